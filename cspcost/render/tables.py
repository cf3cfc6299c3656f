"""Tables for people and machines: rich terminal tables, CSV, JSON and Markdown (no torch here)."""
from __future__ import annotations

import io
import math
from typing import Any, Sequence

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

TABLE_WIDTH = 100  # the table must fit a 100-column terminal
_LAYER_WIDTH = 20  # the layer table's name column


def human(value: float, unit: str = "") -> str:
    """Scale a count with K/M/G/T (1000s): 4_089_184_256 -> '4.09G'."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            scaled = value / factor
            return f"{scaled:.{1 if abs(scaled) >= 100 else 2}f}{suffix}{unit}"
    return f"{value:.0f}{unit}" if float(value).is_integer() else f"{value:.3g}{unit}"


def rounded(value: float) -> str:
    """A measured number for people: 121.2, 38.5, 8.25, 0.412, 0.0031 (three significant digits
    below 10 down to four decimals, one decimal above); exact values stay in JSON and CSV."""
    if value is None or value != value:
        return "-"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if value == 0:
        return "0"
    if abs(value) < 0.00005:
        return "<0.0001" if value > 0 else "-<0.0001"
    decimals = min(4, max(2, 2 - math.floor(math.log10(abs(value)))))
    return f"{value:.{decimals}f}"


def percent(share: float) -> str:
    """A share as a percentage with one decimal: 0.12345 -> '12.3'."""
    return "-" if share is None or share != share else f"{100 * share:.1f}"


def middle_truncate(text: str, width: int) -> str:
    """Shorten a dotted path in the middle, keeping its first part and as many last parts as fit:
    'stage3.blocks.2.conv.bn' -> 'stage3.…2.conv.bn'; else keep both ends of the characters."""
    if len(text) <= width:
        return text
    parts = text.split(".")
    cut = len(parts) - 1  # parts[cut:] are kept after the ellipsis
    while cut > 1 and len(parts[0]) + 2 + len(".".join(parts[cut - 1:])) <= width:
        cut -= 1
    candidate = f"{parts[0]}.…{'.'.join(parts[cut:])}"
    if len(parts) > 2 and len(candidate) <= width:
        return candidate
    keep = width - 1
    return text[: keep - keep // 2] + "…" + text[-(keep // 2):]


def shape_text(shape: Sequence[int]) -> str:
    """(1, 64, 128, 128) -> '1x64x128x128'."""
    return "x".join(str(d) for d in shape) if len(shape) else "-"


def left_truncate(text: str, width: int) -> str:
    """Keep the end of a long dotted path, where the layer's own name is."""
    return text if len(text) <= width else "…" + text[-(width - 1):]


# (column, header, formatter) of the terminal table; units in every header.
_TABLE_COLUMNS: list[tuple[str, str]] = [
    ("macs", "MACs"), ("flops", "FLOPs"), ("params", "params"), ("cio_elems", "CIO elems"),
]


def layer_table(layers: pd.DataFrame, totals: dict[str, Any], title: str) -> Table:
    """A rich table of layers with a totals row, sized for a 100-column terminal."""
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True,
                  show_footer=True, title_justify="left")
    # Widths that fit 100 columns with the gaps: name 20, type 17 (AdaptiveAvgPool2d), shape 12.
    table.add_column("layer", footer="total", max_width=_LAYER_WIDTH, no_wrap=True)
    table.add_column("type", max_width=17, no_wrap=True, overflow="ellipsis")
    table.add_column("out shape", max_width=12, no_wrap=True, overflow="ellipsis")
    for key, header in _TABLE_COLUMNS:
        table.add_column(header, justify="right", footer=human(totals[key]), no_wrap=True)
    table.add_column("FLOPs %", justify="right", footer="100.0", no_wrap=True)
    for row in layers.itertuples(index=False):
        table.add_row(
            middle_truncate(row.name, _LAYER_WIDTH), row.label or row.type, shape_text(row.out_shape),
            *(human(getattr(row, key)) for key, _ in _TABLE_COLUMNS),
            f"{100 * row.flops_share:.1f}",
        )
    return table


def zoo_table(frame: pd.DataFrame, convention: str) -> Table:
    """The zoo as a rich table, paper figures beside cspcost's."""
    table = Table(title=f"cspcost zoo ({convention} convention)", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False, collapse_padding=True, title_justify="left")
    for header in ("model", "family", "baseline", "input", "params", "GFLOPs", "CIO", "paper"):
        left = header in ("model", "family", "baseline")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    for row in frame.itertuples(index=False):
        paper = "-"
        if pd.notna(row.paper_params) and pd.notna(row.paper_bflops):
            paper = f"{row.paper_params / 1e6:.2f}M / {row.paper_bflops:g}"
        side = row.input.rsplit("x", 1)[-1]  # square inputs: 3x224x224 -> 224
        table.add_row(row.name, row.family, row.baseline, side, human(row.params),
                      f"{row.flops / 1e9:.3f}", human(row.cio_elems), paper)
    table.caption = "CIO in elements; paper: the CSPNet paper's (or PRN repository's) #Parameter / BFLOPs"
    return table


COMPARE_ROWS = [  # (column, label): the comparison table is transposed, one column per model
    ("input", "input"), ("params", "params"), ("conv_weight_params", "conv weights"),
    ("macs", "MACs"), ("flops", "FLOPs"), ("cio_elems", "CIO (elems)"), ("bytes", "bytes moved"),
    ("bottleneck_flops", "bottleneck FLOPs"), ("bottleneck_layer", "bottleneck layer"),
    ("layers", "layers"), ("peak_activation_bytes", "peak act. bytes"), ("latency_ms", "latency (ms)"),
    ("latency_ratio", "latency ratio"),
]
LATENCY_CAPTION = ("latency ratio: median of the per-round ratios against the first model, timed "
                   "interleaved in one process; [95% interval]; * marks an interval without 1 (significant)")


def comparison_table(frame: pd.DataFrame, convention: str) -> Table:
    """Models as columns, metrics as rows, each value with its delta against the first model."""
    table = Table(title=f"comparison ({convention})", box=box.SIMPLE_HEAD, padding=(0, 1),
                  pad_edge=False, collapse_padding=True, title_justify="left")
    table.add_column("metric", no_wrap=True)
    for model in frame["model"]:
        table.add_column(str(model), justify="right", no_wrap=True, overflow="ellipsis")
    for key, name in COMPARE_ROWS:
        if key not in frame or frame[key].isna().all():
            continue
        table.add_row(name, *(compare_cell(frame, key, i) for i in range(len(frame))))
    if "latency_ratio" in frame and frame["latency_ratio"].notna().any():
        table.caption = LATENCY_CAPTION
    return table


def compare_cell(frame: pd.DataFrame, key: str, i: int) -> str:
    """One value, scaled, with its delta in percent against the first model."""
    value = frame[key].iloc[i]
    if isinstance(value, str):
        return left_truncate(value, 24)
    if value is None or pd.isna(value):
        return "-"
    if key == "latency_ratio":
        return ratio_text(value, frame["latency_ratio_ci95"].iloc[i], bool(frame["latency_significant"].iloc[i]), i)
    text = rounded(value) if key == "latency_ms" else human(value)
    delta = frame.get(f"{key}_delta_pct")
    if i and delta is not None and pd.notna(delta.iloc[i]):
        text += f" ({delta.iloc[i]:+.1f}%)"
    return text


def ratio_text(ratio: float, ci: Sequence[float], significant: bool, i: int = 1) -> str:
    """'0.865 [0.850-0.881]*': a latency ratio, its 95% interval, * if significant ('1 (ref)' first)."""
    if i == 0:
        return "1 (ref)"
    return f"{ratio:.3f} [{ci[0]:.3f}-{ci[1]:.3f}]{'*' if significant else ''}"


def frame_table(frame: pd.DataFrame, title: str, max_rows: int = 60) -> Table:
    """Any DataFrame as a compact rich table (numbers right-aligned, at most ``max_rows`` rows)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                  collapse_padding=True, title_justify="left")
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left", no_wrap=True,
                         min_width=len(str(column)) if numeric else None)
    for row in frame.head(max_rows).itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    if len(frame) > max_rows:
        table.caption = f"... {len(frame) - max_rows} more rows (use --format csv for all)"
    return table


def text_table(frame: pd.DataFrame, title: str, left: Sequence[str] = ()) -> Table:
    """A table of cells already formatted as text: every row, right-aligned but the ``left`` columns."""
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                  collapse_padding=True, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column), justify="left" if column in left else "right", no_wrap=True)
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def rules_table(frame: pd.DataFrame) -> Table:
    """The op registry: op, kind, and the convention (wrapped)."""
    table = Table(title=f"{len(frame)} op rules", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                  collapse_padding=True, title_justify="left")
    table.add_column("op", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("convention")
    for row in frame.itertuples(index=False):
        table.add_row(row.op, row.kind, row.convention)
    return table


def _cell(value: Any) -> str:
    """A table cell: large integers scaled, floats to 3 decimals."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)) and abs(value) >= 10_000:
        return human(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_text(renderable: Any, width: int = TABLE_WIDTH) -> str:
    """Render a rich object to plain text (for files and tests)."""
    console = Console(file=io.StringIO(), width=width, no_color=True, highlight=False)
    console.print(renderable)
    return console.file.getvalue()


def conventions_table(frame: pd.DataFrame) -> Table:
    """The conventions and CIO options: name, what it counts and its source, wrapped (the per-op
    rules are in the JSON, CSV and Markdown forms)."""
    table = Table(title="counting conventions (--convention) and CIO options (--cio)", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False, collapse_padding=True, title_justify="left", show_lines=True)
    table.add_column("option", no_wrap=True)
    table.add_column("counts", ratio=5)
    table.add_column("params", ratio=2)
    table.add_column("source", ratio=3)
    for row in frame.itertuples(index=False):
        table.add_row(f"{row.option.lstrip('-')} {row.name}", row.counts, row.params, row.source)
    return table
