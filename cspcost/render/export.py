"""CSV and Markdown text from DataFrames (no torch here)."""
from __future__ import annotations

from typing import Any

import pandas as pd

from cspcost.render.tables import COMPARE_ROWS, compare_cell, shape_text


def comparison_markdown(frame: pd.DataFrame) -> str:
    """The comparison as Markdown: metrics as rows, one column per model, deltas inline."""
    models = [str(m) for m in frame["model"]]
    lines = ["| metric | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]
    for key, name in COMPARE_ROWS:
        if key not in frame or frame[key].isna().all():
            continue
        cells = [compare_cell(frame, key, i).replace("|", "\\|") for i in range(len(frame))]
        if key == "bottleneck_layer":
            cells = [f"`{c}`" for c in frame[key]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def frame_for_export(frame: pd.DataFrame) -> pd.DataFrame:
    """Tuples (shapes) as '1x64x32x32' strings, for CSV and Markdown."""
    out = frame.copy()
    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, tuple)).any():
            out[column] = out[column].map(shape_text)
    return out


def to_csv(frame: pd.DataFrame) -> str:
    """CSV text with a header row."""
    return frame_for_export(frame).to_csv(index=False)


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned)."""
    out = frame_for_export(frame)
    header = "| " + " | ".join(map(str, out.columns)) + " |"
    align = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(out[c]) else "---" for c in out.columns) + "|"
    rows = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in out.itertuples(index=False)]
    return "\n".join([header, align, *rows]) + "\n"


def _md_cell(value: Any) -> str:
    """A Markdown cell: floats to 4 significant digits, missing values as '-', pipes escaped."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")
