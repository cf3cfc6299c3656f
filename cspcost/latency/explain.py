"""Why FLOPs do not predict time: measured per-layer time beside FLOPs, bytes and the prediction.

For one model: each layer's measured time (per-layer timing under the machine file's runtime,
``cspcost.profile``: eager hooks, or ONNX Runtime's profiler at the calibrated level) beside its
share of FLOPs and bytes and its predicted time; how much of the per-layer time variance a line in
FLOPs explains against the calibrated model (R^2, and Spearman's rank correlation); the layers
where time and FLOPs disagree most, each with a reason read from the prediction (memory-bound,
overhead-bound, a low-efficiency shape such as a depthwise conv or few input channels, no FLOPs at
all); and the share of time spent in layers with zero FLOPs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd

from cspcost.latency import fit
from cspcost.latency.machine import MachineProfile
from cspcost.latency.predict import Prediction, machine_summary, predict

LOW_CHANNELS = 16  # input channels per group below which a dense conv is called a low-efficiency shape


@dataclass
class Explanation:
    """Measured vs FLOPs vs predicted, per layer and in summary."""

    model: str
    layers: pd.DataFrame  # name, type, measured_ms, time_share, flops_share, bytes_share, predicted_ms, bound, reason
    summary: dict[str, Any]
    disagreements: pd.DataFrame  # the layers where time share and FLOPs share differ most
    machine: MachineProfile = field(repr=False)
    prediction: Prediction = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: summary, disagreements, layers, machine."""
        return {"model": self.model, "machine": machine_summary(self.machine), "summary": self.summary,
                "disagreements": self.disagreements.to_dict(orient="records"),
                "layers": self.layers.to_dict(orient="records")}


def explain(model: str, machine: MachineProfile, input_size: Sequence[int] | None = None, *,
            threads: int = 1, repeat: int = 10, top: int = 8, progress: Any = None) -> Explanation:
    """Measure per-layer time under the machine file's runtime and explain it against FLOPs, bytes
    and the prediction.

    Args:
        model: a model spec (as ``analyze`` takes).
        machine: a calibrated machine file for this machine and runtime (``engine.machine_for``).
        input_size: (C, H, W); default the model's own.
        threads: CPU threads of the measurement (as the machine file's).
        repeat: instrumented per-layer runs.
        top: disagreements listed.
    Returns:
        An Explanation.
    """
    import time

    from cspcost.latency.runtimes import warm_allocator
    from cspcost.profiling.run import profile

    warm_allocator()
    # One thread: each op timed by the thread's CPU clock, as the calibration was (a shared
    # machine's other load then does not inflate single layers at random).
    clock = time.thread_time if threads == 1 else time.perf_counter
    measured = profile(model, input_size, threads=threads, warmup=3, repeat=max(repeat, 3), per_layer=True,
                       peaks=False, clock=clock, progress=progress, runtime=_measured_runtime(machine),
                       ort_level=machine.ort_level or "all")
    prediction = predict(model, machine, input_size)
    return explain_frames(measured.layers, prediction, top)


def _measured_runtime(machine: MachineProfile) -> str:
    """The runtime the layers are timed under: the calibrated file's; eager for a roofline file
    (its bounds are of another device: this machine's eager times stand beside them)."""
    return machine.runtime if machine.runtime in ("eager", "onnxruntime", "openvino") else "eager"


def explain_frames(measured: pd.DataFrame, prediction: Prediction, top: int = 8) -> Explanation:
    """The explanation from a per-layer measurement (``name``, ``type``, ``measured_ms``, ``flops``,
    ``bytes_moved``) and a prediction; pure, so tests can feed it synthetic layers."""
    frame = _joined(measured, prediction)
    summary = _summary(frame)
    gaps = frame.assign(gap=_gaps(frame)).sort_values("gap", ascending=False, kind="stable")
    disagreements = gaps[gaps["measured_ms"] > 0].head(top).drop(columns="gap")
    return Explanation(prediction.model, frame, summary, disagreements.reset_index(drop=True),
                       prediction.machine, prediction)


def _joined(measured: pd.DataFrame, prediction: Prediction) -> pd.DataFrame:
    """Measured layers with shares, the predicted time, the bound and the reason."""
    pred = prediction.layers.set_index("name")
    main = _main_class(prediction.ops)
    frame = measured[["name", "type", "measured_ms", "flops", "bytes_moved"]].copy()
    total_ms, total_flops, total_bytes = (frame[c].sum() for c in ("measured_ms", "flops", "bytes_moved"))
    frame["time_share"] = frame["measured_ms"] / total_ms if total_ms else 0.0
    frame["flops_share"] = frame["flops"] / total_flops if total_flops else 0.0
    frame["bytes_share"] = frame["bytes_moved"] / total_bytes if total_bytes else 0.0
    frame["predicted_ms"] = frame["name"].map(pred["predicted_ms"]).fillna(0.0)
    frame["bound"] = frame["name"].map(pred["bound"]).fillna("none")
    frame["op_class"] = frame["name"].map(main).fillna("")
    frame["reason"] = [_reason(r) for r in frame.itertuples(index=False)]
    return frame


def _main_class(ops: pd.DataFrame) -> dict[str, str]:
    """Per layer, the op class with the most predicted time."""
    by = ops.groupby(["module", "op_class"], sort=False)["predicted_ms"].sum().reset_index()
    best = by.sort_values("predicted_ms", ascending=False, kind="stable").drop_duplicates("module")
    return dict(zip(best["module"], best["op_class"]))


def _reason(row: Any) -> str:
    """Why a layer's time share differs from its FLOPs share, from its class and bound."""
    if row.flops == 0:
        return "no FLOPs: data movement"
    if row.op_class == "conv_depthwise_mult":
        return "depthwise x mult: slow kernel"
    if row.op_class == "conv_depthwise":
        return "depthwise: few MACs/byte"
    if row.op_class == "conv_grouped":
        return "grouped: few channels/group"
    if row.op_class in ("maxpool", "avgpool"):
        return "pooling: window reads, no MACs"
    if row.bound == "overhead":
        return "overhead: fixed per-op cost"
    if row.bound == "memory":
        return "memory-bound: bytes not FLOPs"
    if row.time_share > row.flops_share:
        return "compute, below peak"
    return "compute near peak"


def _gaps(frame: pd.DataFrame) -> list[float]:
    """|time share - FLOPs share|: how much of the model's time a layer takes beyond (or below) what
    its FLOPs would give it (a layer with no FLOPs counts its whole time share)."""
    return [abs(t - f) for t, f in zip(frame["time_share"], frame["flops_share"])]


def _summary(frame: pd.DataFrame) -> dict[str, Any]:
    """R^2 and rank correlations of FLOPs and of the prediction against measured per-layer time."""
    ran = frame[frame["measured_ms"] > 0]
    measured, flops, predicted = ran["measured_ms"].tolist(), ran["flops"].tolist(), ran["predicted_ms"].tolist()
    zero = ran["flops"] == 0
    total = float(ran["measured_ms"].sum())
    return {
        "layers": len(ran),
        "measured_sum_ms": total,
        "predicted_sum_ms": float(ran["predicted_ms"].sum()),
        "flops_r2": fit.flops_r_squared(flops, measured),
        "predicted_r2": fit.r_squared(predicted, measured),
        "flops_spearman": fit.spearman(flops, measured),
        "predicted_spearman": fit.spearman(predicted, measured),
        "zero_flops_time_share": float(ran.loc[zero, "measured_ms"].sum() / total) if total else 0.0,
        "zero_flops_layers": int(zero.sum()),
        "time_by_bound": {b: float(ran.loc[ran["bound"] == b, "measured_ms"].sum() / total) if total else 0.0
                          for b in ("compute", "memory", "overhead")},
    }
