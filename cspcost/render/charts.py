"""The paper's charts from DataFrames: Fig. 7 (per-layer FLOPs), Fig. 8 (per-layer input/output
size), a per-stage breakdown, and measured time vs FLOPs. Object-oriented matplotlib, Agg backend,
no torch. One function per chart: DataFrames in, a Figure out; ``save`` writes PNG and SVG.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cspcost.render.files import write_bytes_atomic  # noqa: E402

# One colour per model position, the same in every chart of a comparison.
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]


def color(i: int) -> str:
    """The colour of the i-th model of a comparison."""
    return COLORS[i % len(COLORS)]


def _priced(layers: pd.DataFrame, column: str) -> pd.DataFrame:
    """Layers with a nonzero ``column``, in execution order."""
    return layers[layers[column] > 0].reset_index(drop=True)


def fig7_layer_flops(series: dict[str, pd.DataFrame], unit: str = "FLOPs") -> Figure:
    """Per-layer FLOPs in execution order, one series per model, each maximum dashed and annotated.

    Args:
        series: legend label -> per-layer DataFrame (``flops`` column), first is the reference.
        unit: the y-axis quantity name (BFLOPs under the darknet convention are still FLOPs/1e9).
    """
    fig, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
    peaks = []
    for i, (name, layers) in enumerate(series.items()):
        priced = _priced(layers, "flops")
        peak = priced["flops"].max() / 1e9
        peaks.append(peak)
        ax.plot(priced.index + 1, priced["flops"] / 1e9, color=color(i), marker="o", markersize=2.5,
                linewidth=1.0, label=f"{name}: max {peak:.3f} G")
        ax.axhline(peak, color=color(i), linestyle="--", linewidth=0.9)
    models = [name.split(" @")[0] for name in series]
    for i, peak in enumerate(peaks[1:], start=1):
        text = f"{100 * (peak / peaks[0] - 1):+.0f}% bottleneck vs {models[0]}"
        if i > 1:  # the paper quotes each detector against the one before it too (-80%, -44%)
            text += f", {100 * (peak / peaks[i - 1] - 1):+.0f}% vs {models[i - 1]}"
        ax.annotate(text, xy=(1, peak), xycoords=("axes fraction", "data"), xytext=(-6, 4),
                    textcoords="offset points", ha="right", color=color(i), fontsize=9, fontweight="bold")
    ax.set(xlabel="layer (execution order, layers with FLOPs)", ylabel=f"G{unit} per layer",
           title="Computational bottleneck: per-layer FLOPs (CSPNet Fig. 7 style)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def fig8_layer_io(series: dict[str, pd.DataFrame], totals: dict[str, int]) -> Figure:
    """Input size and output size of each CIO layer (elements), two panels, total CIO in the legend.

    Args:
        series: legend label -> per-layer DataFrame (``cio_in_elems``, ``cio_out_elems``).
        totals: legend label -> the model's total CIO (elements).
    """
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, layout="constrained")
    for i, (name, layers) in enumerate(series.items()):
        priced = _priced(layers, "cio_elems")
        for ax, column in zip(axes, ("cio_in_elems", "cio_out_elems")):
            ax.plot(priced.index + 1, priced[column], color=color(i), marker="o", markersize=2.5,
                    linewidth=1.0, label=f"{name}: CIO {totals[name] / 1e6:.1f}M")
    axes[0].set(ylabel="input size (elements)", title="Memory traffic: input and output size of each layer (CSPNet Fig. 8 style)")
    axes[1].set(ylabel="output size (elements)", xlabel="layer (execution order, CIO layers)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    return fig


def stage_breakdown(series: dict[str, pd.DataFrame]) -> Figure:
    """FLOPs, params and CIO per block (grouped bars, one colour per model).

    Args:
        series: legend label -> layer DataFrame aggregated at the block depth.
    """
    series = {m: layers[layers[["flops", "params", "cio_elems"]].sum(axis=1) > 0] for m, layers in series.items()}
    names = list(dict.fromkeys(n for layers in series.values() for n in layers["name"]))
    fig, axes = plt.subplots(3, 1, figsize=(max(8, 0.5 * len(names) + 3), 9), sharex=True, layout="constrained")
    width = 0.8 / max(1, len(series))
    for i, (model, layers) in enumerate(series.items()):
        by_name = layers.set_index("name").reindex(names).fillna(0)
        xs = [x + i * width for x in range(len(names))]
        for ax, column, scale in zip(axes, ("flops", "params", "cio_elems"), (1e9, 1e6, 1e6)):
            ax.bar(xs, by_name[column] / scale, width=width, color=color(i), label=model)
    for ax, ylabel in zip(axes, ("GFLOPs", "params (M)", "CIO (M elements)")):
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title("Per-block breakdown")
    axes[0].legend(fontsize=8)
    axes[-1].set_xticks([x + 0.4 - width / 2 for x in range(len(names))], names, rotation=60, ha="right", fontsize=8)
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
