"""What the HTML report shows, as plain data: per model its layer columns, hover texts, bar positions,
module tree and CSP blocks; per page its header. Built from an analysis, a comparison or a profile
(no torch here: the results come in already made; plotly is not needed either)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from cspcost.comparison.stages import first_shapes, stage_labels

if TYPE_CHECKING:
    from cspcost.comparison.engine import Comparison
    from cspcost.profiling.result import ProfileResult
    from cspcost.walk.analysis import AnalysisResult

ROOT = "(model)"  # the tree's root node; the layer row "(root)" (the model's own forward) is priced there
TIME_COLUMNS = ("latency_ms", "predicted_ms")  # measured and roofline-predicted time, where present
TREE_METRICS = {"flops": "FLOPs", "params": "params", "cio_elems": "CIO (elements)", "bytes": "bytes moved",
                "latency_ms": "measured time (ms)"}


@dataclass(frozen=True)
class ModelView:
    """One model of a report: its layer table (the ``--format csv`` columns plus stage, role and
    times), a hover text per layer, the bars' x and width, its module tree and CSP blocks."""

    label: str
    columns: dict[str, list[Any]]  # column name -> one value per layer row
    hover: list[str]  # per layer row
    bars: list[int]  # rows of the layers that ran, in execution order
    x: list[float]  # per bar: its centre on the shared, stage-aligned axis
    width: list[float]  # per bar
    tree: dict[str, list[Any]]  # ids, labels, parents, row (-1: a module with no row of its own)
    csp: list[dict[str, Any]]  # blocks with their share of the model
    totals: dict[str, Any]
    bottleneck: tuple[str, int]
    unsupported: dict[str, int]


@dataclass(frozen=True)
class Page:
    """A whole report: what it is, its header facts, its models and the stage bands of the x axis."""

    kind: str  # "analysis", "comparison" or "profile"
    title: str
    facts: list[tuple[str, str]]  # header lines: (what, value)
    models: list[ModelView]
    spans: list[tuple[float, float, str]]  # stage bands: x from, x to, stage label
    metrics: dict[str, str] = field(default_factory=dict)  # the tree's size metrics on offer


def staged_layers(result: AnalysisResult) -> pd.DataFrame:
    """A result's layers with ``stage`` and CSP ``role`` columns (roles found in its dataflow)."""
    from cspcost.structure import layer_roles

    layers = result.layers.assign(stage=stage_labels(result.layers, result.input_shape[0], first_shapes(result.ops)))
    roles = layer_roles(result.graph) if result.graph is not None else {}
    return layers.assign(role=layers["name"].map(lambda n: roles.get(n, "")))


def with_csp(result: AnalysisResult) -> AnalysisResult:
    """The result with its CSP blocks found, if it has a graph and they were not asked for."""
    from cspcost.structure import find_csp

    return find_csp(result) if result.csp_blocks is None and result.graph is not None else result


def input_shapes(result: AnalysisResult) -> dict[str, str]:
    """Layer name -> the shapes its first op read ('1x64x128x128'), from the dataflow graph."""
    from cspcost.structure.graph import out_shape

    shapes: dict[str, str] = {}
    graph = result.graph
    if graph is None:
        return shapes
    for node in graph.nodes:
        if node.module not in shapes:
            shapes[node.module] = ", ".join(shape_text(out_shape(graph, ref)) for ref in node.inputs)
    return shapes


def shape_text(shape: Sequence[int]) -> str:
    """(1, 64, 32, 32) -> '1x64x32x32'."""
    return "x".join(map(str, shape))


def timed(layers: pd.DataFrame, times: pd.DataFrame | None) -> pd.DataFrame:
    """Layers with ``latency_ms`` and ``predicted_ms`` joined by name from a per-layer timing."""
    if times is None:
        return layers
    joined = layers.copy()
    for column in TIME_COLUMNS:
        if column in times:
            joined[column] = layers["name"].map(dict(zip(times["name"], times[column])))
    return joined


def model_view(result: AnalysisResult, layers: pd.DataFrame, x: list[float], width: list[float]) -> ModelView:
    """One model's view from its analysis and its staged (and timed) layers."""
    from cspcost.comparison.deltas import label

    columns = {c: _column(layers[c]) for c in layers.columns}
    hover = hover_texts(layers, result.totals, input_shapes(result))
    ran = [int(i) for i in range(len(layers)) if layers["ops"].iloc[i] > 0]
    return ModelView(label(result), columns, hover, ran, x, width, module_tree(list(layers["name"]), label(result)),
                     csp_rows(result), dict(result.totals), result.bottleneck, dict(result.unsupported_ops))


def _column(series: pd.Series) -> list[Any]:
    """A DataFrame column as JSON-ready values: shapes as text, NaN as None, numpy scalars as Python's."""
    values = series.tolist()
    out = []
    for v in values:
        if isinstance(v, tuple):
            v = shape_text(v)
        elif isinstance(v, float):  # shares, intensity, times: 6 significant digits (the table shows 4)
            v = None if math.isnan(v) else float(f"{v:.6g}")
        out.append(v)
    return out


def module_tree(names: list[str], label: str) -> dict[str, list[Any]]:
    """The module tree of the layer rows: every ancestor path a node, the model the root; ``row``
    is the layer row priced at a node (its own ops; -1 for a module with no row)."""
    rows = {name: k for k, name in enumerate(names)}
    ids, parents = [ROOT], [""]
    seen = {ROOT}
    for name in names:
        if name == "(root)":
            continue
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            node = ".".join(parts[:depth])
            if node not in seen:
                seen.add(node)
                ids.append(node)
                parents.append(".".join(parts[:depth - 1]) or ROOT)
    labels = [label if node == ROOT else node.rsplit(".", 1)[-1] for node in ids]
    row = [rows.get("(root)" if node == ROOT else node, -1) for node in ids]
    return {"ids": ids, "labels": labels, "parents": parents, "row": row}


def csp_rows(result: AnalysisResult) -> list[dict[str, Any]]:
    """The CSP blocks with each one's share of the model's FLOPs, params and CIO."""
    rows = []
    for block in result.csp_blocks or []:
        shares = {f"{k}_share": block[k] / result.totals[k] if result.totals[k] else 0.0
                  for k in ("flops", "params", "cio_elems")}
        rows.append({key: block[key] for key in ("name", "parent", "pattern", "gamma_fraction", "part2_depth",
                                                 "fusion", "flops", "params", "cio_elems", "roles")} | shares)
    return rows


def hover_texts(layers: pd.DataFrame, totals: dict[str, Any], inputs: dict[str, str]) -> list[str]:
    """Per layer: path, type, shapes, MACs, FLOPs, params, CIO, bytes, intensity, stage, role and times."""
    from html import escape

    from cspcost.render.tables import human

    def count(value: Any) -> str:
        return f"{int(value):,} ({human(value)})" if value >= 1000 else f"{int(value):,}"

    texts = []
    for row in layers.to_dict(orient="records"):
        share = row["flops"] / totals["flops"] if totals.get("flops") else 0.0
        where = " · ".join(p for p in (f"stage {row['stage']}" if row.get("stage") else "",
                                       f"CSP {row['role']}" if row.get("role") else "") if p)
        lines = [f"<b>{escape(str(row['name']))}</b>  {escape(str(row['type']))}", where,
                 f"in {inputs.get(row['name'], '-')} → out {shape_text(row['out_shape'])}",
                 f"MACs {count(row['macs'])}", f"FLOPs {count(row['flops'])}  {100 * share:.2f}% of the model",
                 f"params {count(row['params'])}",
                 f"CIO {count(row['cio_elems'])} = in {row['cio_in_elems']:,} + out {row['cio_out_elems']:,}",
                 f"bytes read {count(row['bytes_read'])} · written {count(row['bytes_written'])}",
                 f"intensity {row['intensity']:.3g} FLOPs/byte"]
        lines += [f"{name} {row[key]:.4g} ms" for key, name in (("latency_ms", "time"), ("predicted_ms", "predicted"))
                  if row.get(key) is not None and not pd.isna(row[key])]
        texts.append("<br>".join(line for line in lines if line))
    return texts


def _versions_text(versions: dict[str, str]) -> str:
    """'cspcost 0.1.0, torch 2.14.1, python 3.11.7'."""
    return ", ".join(f"{k} {v}" for k, v in versions.items())


def _totals_text(result: AnalysisResult) -> str:
    """One model's totals in a line."""
    from cspcost.render.tables import human

    t = result.totals
    return (f"MACs {human(t['macs'])}, FLOPs {human(t['flops'])}, params {human(t['params'])}, "
            f"CIO {human(t['cio_elems'])}, bytes {human(t['bytes_read'] + t['bytes_written'])}B, "
            f"peak activations {human(t['peak_activation_bytes'])}B; bottleneck {result.bottleneck[0]} "
            f"({human(result.bottleneck[1])} FLOPs)")


def _ledger(results: Sequence[AnalysisResult]) -> list[tuple[str, str]]:
    """The unsupported-op ledger (ops no rule prices, counted as 0), one line per model that has any."""
    return [(f"unsupported ops ({r.model})", ", ".join(f"{op} x{n}" for op, n in sorted(r.unsupported_ops.items())))
            for r in results if r.unsupported_ops]


def _positions(frames: dict[str, pd.DataFrame], order: Sequence[str]) -> tuple[dict[str, list[float]], list[Any]]:
    """Bar centres aligned stage by stage (as the static Fig. 7 / Fig. 8 charts place them)."""
    from cspcost.render.charts import _positions as aligned

    return aligned(frames, order)


def _bars(frames: dict[str, pd.DataFrame], order: Sequence[str]) -> tuple[list[list[float]], list[list[float]], list[Any]]:
    """Per model the x and width of each ran layer's bar: models side by side inside each layer slot."""
    ran = {m: f[f["ops"] > 0].reset_index(drop=True) for m, f in frames.items()}
    xs, spans = _positions(ran, order)
    n = len(frames)
    x_out, w_out = [], []
    for i, (model, frame) in enumerate(ran.items()):
        counts = frame["stage"].value_counts()
        where = {label: (a, b) for a, b, label in spans}
        slots = [(where[s][1] - where[s][0]) / counts[s] if spans else 1.0 for s in frame["stage"]]
        slots = [min(w, 1.0) for w in slots]  # a model with fewer layers in a stage: spaced out, not fattened
        x_out.append([round(x + (i - (n - 1) / 2) * w / n, 4) for x, w in zip(xs[model], slots)])
        w_out.append([round(0.9 * w / n, 4) for w in slots])
    return x_out, w_out, [list(s) for s in spans]


def _page(kind: str, title: str, facts: list[tuple[str, str]], results: Sequence[AnalysisResult],
          frames: list[pd.DataFrame], order: Sequence[str] | None = None) -> Page:
    """A page from analyses and their staged (timed) layer frames."""
    order = list(order) if order is not None else list(dict.fromkeys(s for f in frames for s in f["stage"]))
    labeled = {str(i): f for i, f in enumerate(frames)}
    xs, widths, spans = _bars(labeled, order)
    models = [model_view(r, f, x, w) for r, f, x, w in zip(results, frames, xs, widths)]
    metrics = {k: v for k, v in TREE_METRICS.items()
               if k != "latency_ms" or any("latency_ms" in f for f in frames)}
    return Page(kind, title, facts + _ledger(results), models, [tuple(s) for s in spans], metrics)


def _common_facts(results: Sequence[AnalysisResult]) -> list[tuple[str, str]]:
    """Input, convention, totals and versions of analyses."""
    from cspcost.comparison.deltas import label

    facts = [("convention", results[0].convention.label())]
    for r in results:
        shapes = ", ".join(shape_text(s) for s in r.input_shape)
        facts.append((label(r), f"input {shapes}; {_totals_text(r)}"))
    facts.append(("versions", _versions_text(results[0].versions)))
    return facts


def analysis_page(result: AnalysisResult) -> Page:
    """The report of one analysis."""
    result = with_csp(result)
    return _page("analysis", f"{result.model}: cost per layer", _common_facts([result]), [result],
                 [staged_layers(result)])


def comparison_page(comparison: Comparison) -> Page:
    """The report of a comparison: models aligned by stage, measured layer times where present."""
    results = [with_csp(r) for r in comparison.results]
    frames = [timed(staged_layers(r), comparison.timed_layers.get(lab)) for r, lab in zip(results, comparison.labels)]
    order = list(comparison.stages["stage"]) if comparison.stages is not None else None
    facts = _common_facts(results)
    if comparison.latency:
        facts.append(("latency", _latency_text(comparison)))
    return _page("comparison", " vs ".join(comparison.labels), facts, results, frames, order)


def _latency_text(comparison: Comparison) -> str:
    """Each model's measured median latency and its ratio against the first."""
    parts = []
    for _, row in comparison.table.iterrows():
        if row.get("latency_ms") is not None and not pd.isna(row.get("latency_ms")):
            ratio = row.get("latency_ratio")
            parts.append(f"{row['model']} {row['latency_ms']:.3f} ms" + (f" (x{ratio:.3f})" if ratio and ratio == ratio else ""))
    return "; ".join(parts)


def profile_page(result: ProfileResult) -> Page:
    """The report of a profile: the walker's analysis with each layer's measured and predicted time."""
    from cspcost.errors import UsageError

    if result.analysis is None or result.raw_layers is None:
        raise UsageError("the HTML report of a profile needs per-layer times (profile --per-layer)")
    analysis = dataclasses.replace(with_csp(result.analysis), model=result.model)  # the walker ran the module
    times = result.layers_at(None)  # latency_ms: each layer's median time, as the profile's JSON names it
    frame = timed(staged_layers(analysis), times)
    env = result.environment
    facts = _common_facts([analysis])
    facts.insert(1, ("latency", f"median {result.latency.median_ms:.3f} ms, {result.fps:.1f} forwards/s "
                                f"({result.latency.runs} runs)"))
    facts.append(("environment", ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in env.items() if v is not None and not isinstance(v, (dict, list)))))
    return _page("profile", f"{result.model}: measured time per layer", facts, [analysis], [frame])
