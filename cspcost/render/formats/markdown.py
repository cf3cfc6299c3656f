"""``--format md``: GitHub Markdown tables, with headings between tables."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from cspcost.render.formats.base import Renderer

if TYPE_CHECKING:
    import pandas as pd


class MarkdownRenderer(Renderer):
    """Markdown: pipe tables; a result may bring its own document."""

    name = "md"

    def frame(self, frame: pd.DataFrame, title: str, table: Any = None, max_rows: int = 60) -> str:
        """The rows as a Markdown table."""
        from cspcost.render import export  # here: importing the registry stays cheap

        return export.to_markdown(frame)

    def result(self, result: Any, frame: pd.DataFrame, terminal: Callable[[], str],
               markdown: Optional[Callable[[], str]] = None) -> str:
        """The result's own Markdown document if it has one, else its main table."""
        return markdown() if markdown is not None else self.frame(frame, "")

    def section(self, title: str) -> str:
        """A level-2 heading."""
        return f"\n## {title}\n\n"
