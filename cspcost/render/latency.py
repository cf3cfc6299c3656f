"""The latency model's chart: per-layer measured vs predicted time, and the roofline with the
machine's calibrated ceilings. Object-oriented matplotlib (Agg), no torch: a DataFrame in, a Figure out.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

BOUND_COLORS = {"compute": "#1f77b4", "memory": "#d62728", "overhead": "#ff7f0e", "none": "#7f7f7f"}


def explain_figure(layers: pd.DataFrame, peak_gflops: float, bandwidth_gbs: float, title: str) -> Figure:
    """Two panels from an explanation's layers (``measured_ms``, ``predicted_ms``, ``flops``,
    ``bytes_moved``, ``bound``): measured vs predicted per layer (log-log, the diagonal is a perfect
    prediction), and attained GFLOP/s vs arithmetic intensity under the roofline ceilings."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.2), layout="constrained")
    _measured_vs_predicted(left, layers)
    _roofline(right, layers, peak_gflops, bandwidth_gbs)
    fig.suptitle(f"{title}: where the time goes")
    return fig


def _measured_vs_predicted(ax: plt.Axes, layers: pd.DataFrame) -> None:
    """Scatter of per-layer predicted (x) against measured (y) time, coloured by predicted bound."""
    timed = layers[(layers["measured_ms"] > 0) & (layers["predicted_ms"] > 0)]
    for bound, group in timed.groupby("bound", sort=True):
        ax.scatter(group["predicted_ms"], group["measured_ms"], s=14, alpha=0.75,
                   color=BOUND_COLORS.get(str(bound), "#7f7f7f"), label=f"{bound}-bound")
    if len(timed):
        lo = float(min(timed["predicted_ms"].min(), timed["measured_ms"].min())) / 1.5
        hi = float(max(timed["predicted_ms"].max(), timed["measured_ms"].max())) * 1.5
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8, label="measured = predicted")
    ax.set(xscale="log", yscale="log", xlabel="predicted time per layer (ms)",
           ylabel="measured time per layer (ms)", title="Per layer: measured vs predicted")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def _roofline(ax: plt.Axes, layers: pd.DataFrame, peak_gflops: float, bandwidth_gbs: float) -> None:
    """Attained GFLOP/s against FLOPs per byte, with the compute and bandwidth ceilings."""
    priced = layers[(layers["measured_ms"] > 0) & (layers["flops"] > 0) & (layers["bytes_moved"] > 0)]
    intensity = priced["flops"] / priced["bytes_moved"]
    attained = priced["flops"] / (priced["measured_ms"] * 1e6)  # flops / (ms * 1e-3 s) / 1e9
    for bound in sorted(priced["bound"].unique()):
        mask = priced["bound"] == bound
        ax.scatter(intensity[mask], attained[mask], s=14, alpha=0.75, color=BOUND_COLORS.get(bound, "#7f7f7f"),
                   label=f"{bound}-bound layers")
    if peak_gflops > 0 and bandwidth_gbs > 0:
        xs = np.logspace(-2, 3, 200)
        ax.plot(xs, np.minimum(peak_gflops, bandwidth_gbs * xs), color="black", linewidth=1.2,
                label=f"ceilings: {peak_gflops:.0f} GFLOP/s, {bandwidth_gbs:.0f} GB/s")
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOPs per byte moved)",
           ylabel="attained GFLOP/s (measured)", title="Roofline")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
