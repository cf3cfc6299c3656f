"""``--format table`` (the default): rich tables for the terminal, K/M/G numbers."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from cspcost.render.formats.base import Renderer

if TYPE_CHECKING:
    import pandas as pd


class TableRenderer(Renderer):
    """The terminal: a result's own view, or a generic table cut at ``max_rows``."""

    name = "table"

    def frame(self, frame: pd.DataFrame, title: str, table: Any = None, max_rows: int = 60) -> str:
        """``table`` if given, else a generic table of the rows."""
        from cspcost.render import tables  # here: importing the registry stays cheap

        return tables.render_text(table if table is not None else tables.frame_table(frame, title, max_rows))

    def result(self, result: Any, frame: pd.DataFrame, terminal: Callable[[], str],
               markdown: Optional[Callable[[], str]] = None) -> str:
        """The result's terminal view."""
        return terminal()
