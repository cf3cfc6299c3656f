"""``--format csv``: RFC 4180 CSV of the rows, raw integers."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cspcost.render.formats.base import Renderer

if TYPE_CHECKING:
    import pandas as pd


class CsvRenderer(Renderer):
    """CSV: the rows only (a whole result writes its main table)."""

    name = "csv"

    def frame(self, frame: pd.DataFrame, title: str, table: Any = None, max_rows: int = 60) -> str:
        """The rows as CSV."""
        from cspcost.render import export  # here: importing the registry stays cheap

        return export.to_csv(frame)
