"""The paper's charts from DataFrames: Fig. 7 (per-layer FLOPs), Fig. 8 (per-layer input/output
size), a per-stage breakdown, and measured time vs FLOPs. Object-oriented matplotlib, Agg backend,
no torch. One function per chart: DataFrames in, a Figure out; ``save`` writes PNG and SVG.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from cspcost.files import write_bytes_atomic  # noqa: E402
from cspcost.render.tables import human  # noqa: E402

# One colour per model position, the same in every chart of a comparison.
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]


def color(i: int) -> str:
    """The colour of the i-th model of a comparison."""
    return COLORS[i % len(COLORS)]


def _priced(layers: pd.DataFrame, column: str) -> pd.DataFrame:
    """Layers with a nonzero ``column``, in execution order."""
    return layers[layers[column] > 0].reset_index(drop=True)


# CSP roles (cspcost.structure), drawn as markers over each model's line.
ROLE_COLORS = {"split": "#ff7f0e", "part1": "#17becf", "part2": "#e377c2", "partial_transition": "#2ca02c",
               "concat": "#7f7f7f", "fusion_transition": "#8c564b"}
ROLE_NAMES = {"split": "split", "part1": "part 1", "part2": "part 2", "partial_transition": "partial transition",
              "concat": "concat", "fusion_transition": "fusion transition"}
MARKERS = ["o", "^", "s", "D", "v", "P", "X", "*"]
Span = tuple[float, float, str]  # x from, x to, stage label


def _positions(priced: dict[str, pd.DataFrame], stages: Sequence[str] | None) -> tuple[dict[str, list[float]], list[Span]]:
    """x of every priced layer: its index, or, with stages, a place inside its stage's span, so two
    models' stages line up whatever their layer counts (each stage as wide as its longest model)."""
    if not stages or not all("stage" in frame for frame in priced.values()):
        return {m: [i + 1.0 for i in range(len(frame))] for m, frame in priced.items()}, []
    counts = {m: frame["stage"].value_counts() for m, frame in priced.items()}
    spans, start = [], 0.5
    for stage in stages:
        width = max(int(c.get(stage, 0)) for c in counts.values())
        if width:
            spans.append((start, start + width, stage))
            start += width
    where = {label: (a, b) for a, b, label in spans}
    xs: dict[str, list[float]] = {}
    for model, frame in priced.items():
        seen: dict[str, int] = {}
        xs[model] = []
        for stage in frame["stage"]:
            k, (a, b) = seen.get(stage, 0), where[stage]
            seen[stage] = k + 1
            xs[model].append(a + (k + 0.5) * (b - a) / counts[model][stage])
    return xs, spans


def _mark_stages(ax: Any, spans: list[Span]) -> None:
    """Stage boundaries as dotted lines, every other stage shaded, stage names along the top."""
    for k, (a, b, _) in enumerate(spans):
        if k:
            ax.axvline(a, color="#555555", linestyle=":", linewidth=0.8)
        if k % 2:
            ax.axvspan(a, b, color="#000000", alpha=0.04, linewidth=0)
    if spans:
        top = ax.secondary_xaxis("top")
        total = spans[-1][1] - spans[0][0]
        # a stage narrower than 2.5% of the axis keeps its boundary but not its name (no overprint)
        top.set_xticks([(a + b) / 2 for a, b, _ in spans],
                       [label if (b - a) / total >= 0.025 else "" for a, b, label in spans],
                       fontsize=7 if len(spans) > 8 else 8)
        top.tick_params(length=0)
        ax.set_xlim(spans[0][0], spans[-1][1])


def _short_name(name: str, width: int = 28) -> str:
    """A layer name for a label: without a leading ``model.`` or trailing ``.conv``, its end if long."""
    text = str(name).removesuffix(".conv")
    text = text.removeprefix("model.") if not text.removeprefix("model.").isdigit() else text
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _draw(ax: Any, priced: dict[str, pd.DataFrame], xs: dict[str, list[float]], column: str, scale: float,
          labels: dict[str, str] | None = None, heaviest: int = 0) -> set[str]:
    """Each model's line, its CSP-role markers and its heaviest layers' names; returns the roles drawn."""
    large = max((len(f) for f in priced.values()), default=0) > 150
    roles: set[str] = set()
    for i, (model, frame) in enumerate(priced.items()):
        x, y = xs[model], frame[column] / scale
        ax.plot(x, y, color=color(i), marker=MARKERS[i % len(MARKERS)], markersize=1.2 if large else 2.5,
                linewidth=0.6 if large else 1.0, label=(labels or {}).get(model, model))
        if "role" in frame:
            for role, rgb in ROLE_COLORS.items():
                mask = (frame["role"] == role).to_numpy()
                if mask.any():
                    roles.add(role)
                    ax.scatter([v for v, m in zip(x, mask) if m], y[mask], s=9 if large else 18, color=rgb,
                               marker=MARKERS[i % len(MARKERS)], edgecolors=color(i), linewidths=0.5, zorder=3)
        for rank, k in enumerate(y.nlargest(heaviest).index if heaviest else []):
            ax.annotate(_short_name(frame["name"][k]), xy=(x[k], y[k]), xytext=(6, -12 - 10 * rank + 26 * (i == 0)),
                        textcoords="offset points", fontsize=6.5, color=color(i),
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
                        arrowprops={"arrowstyle": "-", "color": color(i), "linewidth": 0.5})
    return roles


def _role_legend(fig: Figure, roles: set[str]) -> None:
    """A legend under the plot naming the CSP role colours that appear."""
    from matplotlib.lines import Line2D

    if not roles:
        return
    handles = [Line2D([], [], linestyle="", marker="o", color=ROLE_COLORS[r]) for r in ROLE_COLORS if r in roles]
    names = [ROLE_NAMES[r] for r in ROLE_COLORS if r in roles]
    fig.legend(handles, names, loc="outside lower center", fontsize=8, ncol=len(handles),
               title="CSP role of the marked layers (cspcost.structure)", title_fontsize=8, frameon=False)


def fig7_layer_flops(series: dict[str, pd.DataFrame], unit: str = "FLOPs",
                     stages: Sequence[str] | None = None) -> Figure:
    """Per-layer FLOPs in execution order, one series per model, each maximum dashed and annotated.

    Args:
        series: legend label -> per-layer DataFrame (``flops``, ``name``; optional ``stage`` and CSP
            ``role``), first is the reference.
        unit: the y-axis quantity name (BFLOPs under the darknet convention are still FLOPs/1e9).
        stages: the stage order (with ``stage`` columns): x aligned stage by stage, boundaries marked.
    """
    priced = {m: _priced(layers, "flops") for m, layers in series.items()}
    xs, spans = _positions(priced, stages)
    fig, ax = plt.subplots(figsize=(13 if spans else 11, 5.2 if spans else 4.8), layout="constrained")
    peaks = [frame["flops"].max() / 1e9 for frame in priced.values()]
    legend = {m: f"{m}: max {p:.3f} G" for m, p in zip(priced, peaks)}
    roles = _draw(ax, priced, xs, "flops", 1e9, legend, heaviest=3 if spans else 0)
    for i, peak in enumerate(peaks):
        ax.axhline(peak, color=color(i), linestyle="--", linewidth=0.9)
    models = [name.split(" @")[0] for name in series]
    for i, peak in enumerate(peaks[1:], start=1):
        text = f"{100 * (peak / peaks[0] - 1):+.0f}% bottleneck vs {models[0]}"
        if i > 1:  # the paper quotes each detector against the one before it too (-80%, -44%)
            text += f", {100 * (peak / peaks[i - 1] - 1):+.0f}% vs {models[i - 1]}"
        ax.annotate(text, xy=(1, peak), xycoords=("axes fraction", "data"), xytext=(-6, 4),
                    textcoords="offset points", ha="right", color=color(i), fontsize=9, fontweight="bold")
    xlabel = "layer, aligned by stage (output stride and order)" if spans else "layer (execution order, layers with FLOPs)"
    ax.set(xlabel=xlabel, ylabel=f"G{unit} per layer",
           title="Computational bottleneck: per-layer FLOPs (CSPNet Fig. 7 style)")
    _mark_stages(ax, spans)
    ax.legend(loc="upper left" if not spans else "best", fontsize=8)
    _role_legend(fig, roles)
    ax.grid(alpha=0.3)
    return fig


def fig8_layer_io(series: dict[str, pd.DataFrame], totals: dict[str, int],
                  stages: Sequence[str] | None = None) -> Figure:
    """Input size and output size of each CIO layer (elements), two panels, total CIO in the legend.

    Args:
        series: legend label -> per-layer DataFrame (``cio_in_elems``, ``cio_out_elems``; optional
            ``stage`` and ``role``).
        totals: legend label -> the model's total CIO (elements).
        stages: the stage order: x aligned stage by stage, boundaries marked.
    """
    priced = {m: _priced(layers, "cio_elems") for m, layers in series.items()}
    xs, spans = _positions(priced, stages)
    fig, axes = plt.subplots(2, 1, figsize=(13 if spans else 11, 7 if spans else 6.5), sharex=True,
                             layout="constrained")
    legend = {m: f"{m}: CIO {totals[m] / 1e6:.1f}M" for m in priced}
    roles: set[str] = set()
    for ax, column in zip(axes, ("cio_in_elems", "cio_out_elems")):
        roles |= _draw(ax, priced, xs, column, 1, legend, heaviest=2 if spans else 0)
    axes[0].set(ylabel="input size (elements)", title="Memory traffic: input and output size of each layer (CSPNet Fig. 8 style)")
    xlabel = "layer, aligned by stage (output stride and order)" if spans else "layer (execution order, CIO layers)"
    axes[1].set(ylabel="output size (elements)", xlabel=xlabel)
    for k, ax in enumerate(axes):
        ax.grid(alpha=0.3)
        # K/M tick labels, not an "1e6" offset text that collides with the first stage label
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: human(value)))
        _mark_stages(ax, spans if k == 0 else [(a, b, "") for a, b, _ in spans])
        ax.legend(loc="upper right", fontsize=8)
    _role_legend(fig, roles)
    return fig


def _slots(series: dict[str, pd.DataFrame], stages: Sequence[str] | None) -> tuple[list[dict[str, int]], list[str], list[Span]]:
    """Bar slots: with stages, each model's k-th block of a stage shares slot k of that stage (execution
    order kept for both); without, one slot per block name (the union, first model's order first)."""
    if not stages or not all("stage" in f for f in series.values()):
        names = list(dict.fromkeys(n for layers in series.values() for n in layers["name"]))
        index = {n: k for k, n in enumerate(names)}
        return [{n: index[n] for n in layers["name"]} for layers in series.values()], names, []
    per_model: list[dict[str, int]] = [{} for _ in series]
    ticks: list[str] = []
    spans: list[Span] = []
    for stage in stages:
        groups = [list(layers.loc[layers["stage"] == stage, "name"]) for layers in series.values()]
        width = max(len(g) for g in groups)
        if not width:
            continue
        spans.append((len(ticks) - 0.5, len(ticks) + width - 0.5, stage))
        for k in range(width):
            for slot, names in zip(per_model, groups):
                if k < len(names):
                    slot[names[k]] = len(ticks)
            ticks.append(" | ".join(dict.fromkeys(g[k] if k < len(g) else "-" for g in groups)))
    return per_model, ticks, spans


def stage_breakdown(series: dict[str, pd.DataFrame], stages: Sequence[str] | None = None) -> Figure:
    """FLOPs, params and CIO per block (grouped bars, one colour per model), zero-cost blocks kept.

    Args:
        series: legend label -> layer DataFrame aggregated at the block depth (``name``, ``flops``,
            ``params``, ``cio_elems``; optional ``stage``).
        stages: the stage order: blocks paired stage by stage in execution order, not by name.
    """
    slots, ticks, spans = _slots(series, stages)
    if not spans:  # paired by name: a block a model lacks is a zero-height bar, so groups line up
        series = {m: layers.set_index("name").reindex(ticks).fillna(0).reset_index() for m, layers in series.items()}
        slots = [{n: k for k, n in enumerate(ticks)} for _ in series]
    fig, axes = plt.subplots(3, 1, figsize=(min(40, max(8, 0.32 * len(ticks) + 3)), 9.5), sharex=True,
                             layout="constrained")
    width = 0.8 / max(1, len(series))
    for i, ((model, layers), slot) in enumerate(zip(series.items(), slots)):
        xs = [slot[n] - 0.4 + (i + 0.5) * width for n in layers["name"]]
        for ax, column, scale in zip(axes, ("flops", "params", "cio_elems"), (1e9, 1e6, 1e6)):
            ax.bar(xs, layers[column] / scale, width=width, color=color(i), label=model)
            zero = (layers[column] == 0).to_numpy()
            ax.scatter([x for x, z in zip(xs, zero) if z], [0] * int(zero.sum()), marker="_", s=30,
                       color=color(i), zorder=3)  # a zero-cost block is still there
    for ax, ylabel in zip(axes, ("GFLOPs", "params (M)", "CIO (M elements)")):
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
        _mark_stages(ax, spans if ax is axes[0] else [(a, b, "") for a, b, _ in spans])
    axes[0].set_title("Per-block breakdown" + (", blocks paired by stage in execution order" if spans else ""))
    axes[0].legend(fontsize=8)
    axes[-1].set_xticks(range(len(ticks)), ticks, rotation=70, ha="right", fontsize=7 if len(ticks) > 30 else 8)
    return fig


def stage_totals(frame: pd.DataFrame, labels: Sequence[str]) -> Figure:
    """Per-stage FLOPs, params and CIO of each model (grouped bars), the change vs the first above B's bars.

    Args:
        frame: ``comparison.stages.stage_table``'s frame.
        labels: the models, as its columns name them.
    """
    stages = list(frame["stage"])
    many = len(stages) > 8  # a detector's neck and head: one row per metric, labels turned
    fig, axes = plt.subplots(3 if many else 1, 1 if many else 3, layout="constrained",
                             figsize=(max(10, 0.55 * len(stages) + 3), 10) if many else (14, 4.6))
    width = 0.8 / max(1, len(labels))
    for ax, key, scale, unit in zip(axes, ("flops", "params", "cio_elems"), (1e9, 1e6, 1e6),
                                    ("GFLOPs", "params (M)", "CIO (M elements)")):
        for i, model in enumerate(labels):
            xs = [k - 0.4 + (i + 0.5) * width for k in range(len(stages))]
            values = frame[f"{model} {key}"] / scale
            ax.bar(xs, values, width=width, color=color(i), label=model)
            if i:
                for x, v, d in zip(xs, values, frame[f"{model} {key}_delta_pct"]):
                    if d is not None and not pd.isna(d):
                        ax.annotate(f"{d:+.0f}%", (x, v), xytext=(0, 2), textcoords="offset points",
                                    ha="center", fontsize=6.5, color=color(i), rotation=90 if many else 0)
        ax.set_xticks(range(len(stages)), stages, fontsize=8, rotation=45 if many else 0)
        ax.set(ylabel=unit, xlabel="stage (output stride, order)")
        ax.margins(y=0.15)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title("Per stage, aligned by output stride")
    axes[0].legend(fontsize=7)
    return fig


def time_vs_flops(series: dict[str, pd.DataFrame]) -> Figure:
    """Measured time vs FLOPs per layer (log-log scatter): where FLOPs are not latency.

    Args:
        series: legend label -> per-layer DataFrame with ``flops`` and ``latency_ms``.
    """
    fig, ax = plt.subplots(figsize=(7.5, 6), layout="constrained")
    for i, (name, layers) in enumerate(series.items()):
        timed = layers[(layers["latency_ms"] > 0) & (layers["flops"] > 0)]
        ax.scatter(timed["flops"] / 1e9, timed["latency_ms"], s=12, color=color(i), alpha=0.7, label=name)
    ax.set(xscale="log", yscale="log", xlabel="GFLOPs per layer", ylabel="measured time per layer (ms)",
           title="Measured time vs FLOPs per layer")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


# Byte-identical files on every run: no date, fixed SVG ids (matplotlib salts them with a random
# uuid otherwise), no software stamp (so a matplotlib upgrade alone does not rewrite every chart).
_METADATA = {"svg": {"Date": None, "Creator": None}, "png": {"Software": None}}


def save(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` atomically and reproducibly; close the figure."""
    stem = Path(stem)
    written = []
    for fmt in formats:
        buffer = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "cspcost"}):
            fig.savefig(buffer, format=fmt, dpi=130, metadata=_METADATA.get(fmt))
        target = stem.with_suffix(f".{fmt}")
        write_bytes_atomic(target, buffer.getvalue())
        written.append(target)
    plt.close(fig)
    return written
