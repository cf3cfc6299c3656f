"""Display frames of the latency model (pure pandas, no torch): the machine file's classes, the
prediction's layers, the explanation's summary and disagreements."""
from __future__ import annotations

from typing import Any

import pandas as pd

from cspcost.latency.machine import MachineProfile


def machine_frame(profile: MachineProfile) -> pd.DataFrame:
    """One row per op class: points, the fit's median error on them, its fixed cost per op; then the
    per-forward and per-module-call costs (``cspcost.latency.opclass.CLASSES`` says what each class covers)."""
    rows = []
    for name, fit in profile.classes.items():
        rows.append({"class": name, "points": fit.points, "fit_err_pct": round(100 * fit.median_abs_err, 1),
                     "overhead_us": round(fit.coef[0] * 1e6, 2)})
    rows.append({"class": "(per forward)", "points": 0, "fit_err_pct": 0.0,
                 "overhead_us": round(profile.run_overhead_s * 1e6, 2)})
    rows.append({"class": "(per module call)", "points": 0, "fit_err_pct": 0.0,
                 "overhead_us": round(profile.module_call_s * 1e6, 2)})
    return pd.DataFrame(rows)


def prediction_view(layers: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Layer, type, FLOPs share, predicted ms, its share of the predicted time and the bound."""
    total = float(layers["predicted_ms"].sum()) or 1.0
    if top:
        layers = layers.sort_values("predicted_ms", ascending=False, kind="stable").head(top)
    return pd.DataFrame({
        "layer": [_short(n, 34) for n in layers["name"]], "type": [_short(t, 18) for t in layers["type"]],
        "FLOPs %": [f"{100 * v:.1f}" for v in layers["flops_share"]],
        "pred ms": [f"{v:.3f}" for v in layers["predicted_ms"]],
        "time %": [f"{100 * v / total:.1f}" for v in layers["predicted_ms"]],
        "bound": layers["bound"].tolist(),
    })


def summary_lines(summary: dict[str, Any], model: str, label: str) -> list[str]:
    """The explanation's summary as short lines of text."""
    by_bound = ", ".join(f"{k} {100 * v:.0f}%" for k, v in summary["time_by_bound"].items())
    return [
        f"{model}: {summary['layers']} layers, measured {summary['measured_sum_ms']:.2f} ms, "
        f"{label} {summary['predicted_sum_ms']:.2f} ms (sum of layers)",
        f"per-layer time explained: FLOPs alone R^2 {summary['flops_r2']:.2f} (rank {summary['flops_spearman']:.2f}); "
        f"calibrated model R^2 {summary['predicted_r2']:.2f} (rank {summary['predicted_spearman']:.2f})",
        f"time in layers with zero FLOPs: {100 * summary['zero_flops_time_share']:.1f}% "
        f"({summary['zero_flops_layers']} layers); measured time by predicted bound: {by_bound}",
    ]


def disagreement_view(frame: pd.DataFrame) -> pd.DataFrame:
    """The disagreeing layers: time share vs FLOPs share, bytes share, measured vs predicted, reason."""
    return pd.DataFrame({
        "layer": [_short(n, 26) for n in frame["name"]],
        "time%": [f"{100 * v:.1f}" for v in frame["time_share"]],
        "FLOPs%": [f"{100 * v:.1f}" for v in frame["flops_share"]],
        "bytes%": [f"{100 * v:.1f}" for v in frame["bytes_share"]],
        "ms": [f"{v:.3f}" for v in frame["measured_ms"]],
        "pred": [f"{v:.3f}" for v in frame["predicted_ms"]],
        "reason": frame["reason"],
    })


def _short(name: str, width: int = 28) -> str:
    """A layer name cut in the middle to ``width`` characters."""
    if len(name) <= width:
        return name
    half = (width - 1) // 2
    return name[:half] + "…" + name[-(width - 1 - half):]
