"""``--format json``: a result as its own JSON object, a table as a list of records."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from cspcost.render.formats.base import Renderer

if TYPE_CHECKING:
    import pandas as pd


class JsonRenderer(Renderer):
    """JSON: ``to_json`` of a result, records of a table."""

    name = "json"

    def frame(self, frame: pd.DataFrame, title: str, table: Any = None, max_rows: int = 60) -> str:
        """The rows as a JSON list of records."""
        return frame.to_json(orient="records", indent=2) + "\n"

    def result(self, result: Any, frame: pd.DataFrame, terminal: Callable[[], str],
               markdown: Optional[Callable[[], str]] = None) -> str:
        """The result's own JSON object."""
        return result.to_json() + "\n"
