"""The renderer base class: what every output format must say about a table and a whole result."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional

if TYPE_CHECKING:
    import pandas as pd


class Renderer(ABC):
    """One output format: a table of rows, a whole result, a heading between tables."""

    name: ClassVar[str]  # the ``--format`` value

    @abstractmethod
    def frame(self, frame: pd.DataFrame, title: str, table: Any = None, max_rows: int = 60) -> str:
        """One table of rows (``table``: a ready terminal table; ``max_rows``: the generic one's cut)."""

    def result(self, result: Any, frame: pd.DataFrame, terminal: Callable[[], str],
               markdown: Optional[Callable[[], str]] = None) -> str:
        """A whole result (anything with ``to_json``): by default its main ``frame``; the terminal
        format writes ``terminal()``, JSON the result itself, Markdown ``markdown()`` if given."""
        return self.frame(frame, "")

    def section(self, title: str) -> str:
        """A heading before a further table (empty where each table carries its own title)."""
        return ""
