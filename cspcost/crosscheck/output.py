"""``cspcost peers`` as text: a terminal table, CSV, Markdown (JSON is ``PeersResult.to_json``)."""
from __future__ import annotations

import textwrap

import pandas as pd
from rich import box
from rich.table import Table

from cspcost.crosscheck.engine import PeersResult
from cspcost.render import export, tables
from cspcost.render.formats import Renderer

_TOTAL = "(total)"


def totals_frame(result: PeersResult) -> pd.DataFrame:
    """One row per peer: its own total, cspcost's prediction, the residual; or why it has none."""
    rows = [{"tool": p["tool"], "version": p["version"], "unit": p["unit"], "total": p["total"],
             "predicted": p["predicted"], "residual": p["residual"],
             "note": p["error"] if p["error"] else ""} for p in result.peers]
    return pd.DataFrame(rows).astype({"total": "Int64", "predicted": "Int64", "residual": "Int64"})


def long_frame(result: PeersResult) -> pd.DataFrame:
    """CSV rows: (layer, tool) with total, predicted, residual; the model's totals as layer (total)."""
    rows = [{"layer": _TOTAL, "tool": p["tool"], "unit": p["unit"], "total": p["total"], "predicted": p["predicted"],
             "residual": p["residual"], "cspcost_macs": p["cspcost_macs"]} for p in result.peers]
    units = {p["tool"]: p["unit"] for p in result.peers}
    rows += [{"layer": layer["name"], "tool": q["tool"], "unit": units[q["tool"]], "total": q["total"],
              "predicted": q["predicted"], "residual": q["residual"], "cspcost_macs": layer["cspcost_macs"]}
             for layer in result.layers for q in layer["peers"]]
    return pd.DataFrame(rows).astype({"total": "Int64", "predicted": "Int64", "residual": "Int64"})


def layers_frame(result: PeersResult) -> pd.DataFrame:
    """One row per layer: cspcost's MACs, and per peer its count and the residual of the prediction."""
    rows = []
    for layer in result.layers:
        row = {"layer": layer["name"], "cspcost_macs": layer["cspcost_macs"]}
        for q in layer["peers"]:
            row[q["tool"]] = q["predicted"] if q["total"] is None else q["total"]
            row[f"{q['tool']}_res"] = q["residual"]
        rows.append(row)
    return pd.DataFrame(rows)


def _layer_cell(q: dict) -> str:
    """A peer's count in a layer; ``*`` marks cspcost's prediction where the peer has no per-layer count."""
    if q["total"] is None:
        return tables.human(q["predicted"]) + "*"
    return tables.human(q["total"]) + (f" ({q['residual']:+,})" if q["residual"] else "")


def _totals_table(result: PeersResult) -> Table:
    """The totals as a terminal table: exact integers, the note wrapped."""
    table = Table(title=f"{result.model} at {'x'.join(map(str, result.input))}", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False, collapse_padding=True, title_justify="left")
    for column, right in (("tool", False), ("version", False), ("unit", False), ("total", True),
                          ("predicted", True), ("residual", True), ("note", False)):
        table.add_column(column, justify="right" if right else "left", no_wrap=column != "note",
                         max_width=12 if column == "version" else None, overflow="fold")
    for row in _exact(totals_frame(result)).itertuples(index=False):
        table.add_row(*map(str, row))
    return table


def _layers_table(result: PeersResult) -> Table:
    """Per layer: cspcost's MACs and each peer's count, with any residual beside it."""
    table = Table(title=f"per layer (depth {result.depth}): peer count (residual if not 0); * = predicted, the "
                  "peer has no per-layer count", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                  collapse_padding=True, title_justify="left")
    tools = [q["tool"] for q in result.layers[0]["peers"]] if result.layers else []
    table.add_column("layer", no_wrap=True, max_width=24)
    for column in ("cspcost MACs", *tools):
        table.add_column(column, justify="right", no_wrap=True)
    for layer in result.layers[:60]:
        table.add_row(tables.left_truncate(layer["name"], 24), tables.human(layer["cspcost_macs"]),
                      *(_layer_cell(q) for q in layer["peers"]))
    return table


def _why_text(result: PeersResult) -> str:
    """'why they differ' as one line per peer: signed amounts by rule, in the peer's unit."""
    lines = []
    for p in result.peers:
        if p["status"] != "ok":
            continue
        parts = [f"{w['amount']:+,} {w['rule'].split(': ', 1)[-1]}" for w in p["why"]]
        lines.append(f"- {p['tool']} ({p['unit']}) vs cspcost's {p['cspcost_macs']:,} MACs:")
        # one rule a line, wrapped to the 100-column terminal the tables fit
        lines += [textwrap.fill(part, 100, initial_indent="    ", subsequent_indent="      ")
                  for part in parts] or ["    no difference"]
    return "\n".join(lines) + "\n"


def _exact(frame: pd.DataFrame) -> pd.DataFrame:
    """Exact integers with thousands separators, so a zero residual reads as exactly zero."""
    out = frame.copy()
    for column in ("total", "predicted", "residual"):
        out[column] = out[column].map(lambda v: "-" if pd.isna(v) else f"{int(v):,}")
    return out


def format_peers(result: PeersResult, renderer: Renderer) -> str:
    """The result as ``renderer`` writes it (CSV: the long frame; Markdown and the terminal: totals,
    why they differ, per layer)."""
    return renderer.result(result, long_frame(result), lambda: _terminal(result), lambda: _markdown(result))


def _markdown(result: PeersResult) -> str:
    """The Markdown document: totals, why they differ, per layer."""
    title = f"{result.model} at {'x'.join(map(str, result.input))}"
    return (f"### {title}\n\n" + export.to_markdown(_exact(totals_frame(result)))
            + "\n**Why they differ**\n\n" + _why_text(result)
            + f"\n**Per layer (depth {result.depth})**\n\n" + export.to_markdown(layers_frame(result)))


def _terminal(result: PeersResult) -> str:
    """The terminal view: the totals table, why they differ, the per-layer table."""
    return (tables.render_text(_totals_table(result)) + "why they differ:\n" + _why_text(result) + "\n"
            + tables.render_text(_layers_table(result)))
