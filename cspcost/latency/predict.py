"""Predict a model's latency from its meta capture and a machine file: per op, per layer, in total.

No weights, no kernels: the walker's capture gives every op's shapes; each op is classified
(``opclass``) and priced by its class's fitted coefficients. The time of an op splits into three
parts, and the largest names its bound:

- ``overhead``: the class's fixed per-op cost (dispatch, kernel selection, Python);
- ``compute``: the terms in flops (including the shape terms: flops per input channel, ...);
- ``memory``: the terms in bytes.

A whole forward adds the machine's per-run overhead and, in eager, the per-module-call overhead
times the modules called (``totals["predicted_overhead_ms"]``); layer rows carry op time only, as
per-layer measurements do. Under ONNX Runtime and OpenVINO a BN or a simple activation directly
after a conv costs nothing (the exporter folds BN into the conv, the runtime fuses the activation
into it), and a transpose that no matrix product takes is the copy its Transpose node makes.
With a roofline machine file each op is ``max(flops / peak, bytes / bandwidth)``: a lower bound.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import log2
from typing import Any, Sequence

import numpy as np
import pandas as pd
from torch import nn

from cspcost.latency.machine import MachineProfile
from cspcost.latency.neighbours import correction
from cspcost.latency.opclass import CLASSES, NEAREST, Work, classify, feature_row
from cspcost.walk.analysis import Measured, measure_rows
from cspcost.walk.metrics import ROOT, ancestor

# Runtimes of an exported graph: BN folded into the conv before it, simple activations fused into it,
# transposes materialised unless a matrix product takes them (ONNX Runtime and OpenVINO alike).
GRAPH_RUNTIMES = ("onnxruntime", "openvino")
# Views in PyTorch that ONNX Runtime materialises as a Transpose node (unless a MatMul absorbs it).
TRANSPOSES = {"aten.permute", "aten.transpose", "aten.t", "aten.swapaxes", "aten.swapdims"}
# ONNX Runtime's CPU provider fuses these into a preceding conv (ConvActivationFusion).
FUSED_ACTIVATIONS = {"aten.relu", "aten.relu_", "aten.hardtanh", "aten.hardtanh_", "aten.leaky_relu",
                     "aten.leaky_relu_", "aten.sigmoid", "aten.sigmoid_", "aten.tanh", "aten.tanh_",
                     "aten.hardsigmoid", "aten.hardsigmoid_", "aten.clamp", "aten.clamp_", "aten.relu6"}
BOUNDS = ("compute", "memory", "overhead")


@dataclass
class Prediction:
    """Predicted latency of one model on one machine file: per op, per layer and in total."""

    model: str
    machine: MachineProfile
    ops: pd.DataFrame  # one row per captured op
    layers: pd.DataFrame  # name, predicted_ms, compute_ms, memory_ms, overhead_ms, bound
    totals: dict[str, Any]
    substituted: dict[str, str] = field(default_factory=dict)  # class missing -> class used
    warnings: list[str] = field(default_factory=list)

    @property
    def predicted_ms(self) -> float:
        """The whole forward's predicted (or, for a roofline file, lower-bound) time in ms."""
        return float(self.totals["predicted_ms"])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: model, machine summary, totals, layers, substituted classes."""
        return {"model": self.model, "machine": machine_summary(self.machine), "totals": self.totals,
                "layers": self.layers.to_dict(orient="records"), "substituted_classes": self.substituted,
                "warnings": self.warnings}


def machine_summary(machine: MachineProfile) -> dict[str, Any]:
    """What a prediction says about the file it came from."""
    return {"kind": machine.kind, "runtime": machine.runtime, "threads": machine.threads,
            "device": machine.device, "label": "lower bound (roofline)" if machine.is_bound else "predicted"}


def predict(model_or_name: nn.Module | str, machine: MachineProfile, input_size: Sequence[Any] | None = None,
            batch: int = 1, *, inputs: Any = None, depth: int | None = None) -> Prediction:
    """Predict a model's latency on ``machine`` from its meta capture (no weights, no kernels).

    Args:
        model_or_name: anything ``cspcost.analyze`` takes.
        machine: a calibrated or roofline MachineProfile (``cspcost.latency.machine.load``).
        input_size, batch, inputs: as ``cspcost.analyze``.
        depth: aggregate layer rows at this module depth.
    Returns:
        A Prediction (per op, per layer, totals with ``predicted_ms``).
    """
    measured = measure_rows(model_or_name, input_size, batch, inputs=inputs)
    return predict_measured(measured, machine, depth)


def predict_measured(measured: Measured, machine: MachineProfile, depth: int | None = None) -> Prediction:
    """``predict`` on a capture already made."""
    ops, substituted = price_ops(measured, machine)
    layers = layer_frame(ops, depth)
    calls = sum(measured.capture.module_calls.values())
    overhead_ms = (machine.run_overhead_s + machine.module_call_s * calls) * 1e3
    total = float(ops["predicted_ms"].sum()) + overhead_ms
    totals = {"predicted_ms": total, "predicted_overhead_ms": overhead_ms, "module_calls": calls,
              "predicted_label": machine_summary(machine)["label"],
              **{f"{b}_ms": float(ops[f"{b}_ms"].sum()) for b in BOUNDS}}
    notes = [f"no calibration for {missing} ops; predicted as {used} (flagged)" for missing, used in substituted.items()]
    return Prediction(measured.name, machine, ops, layers, totals, substituted, notes)


def price_ops(measured: Measured, machine: MachineProfile) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per op: its class, the class used, the compute/memory/overhead split and the bound."""
    events, flow = measured.capture.events, measured.capture.flow
    fused: set[int] = set()
    rows: list[dict[str, Any]] = []
    substituted: dict[str, str] = {}
    graph = machine.runtime in GRAPH_RUNTIMES
    into_matmul = _before_matmul(measured.ops) if graph else set()
    for op in measured.ops:
        i = op["index"]
        name, work = classify(events[i], op)
        if graph and events[i].op in TRANSPOSES and i not in into_matmul:
            name, work = "copy", _transpose_work(events[i])
        if graph and _fuses(events, flow, measured.ops, i, fused):
            fused.add(i)
            rows.append(_row(op, name, name, (0.0, 0.0, 0.0), "fused"))
            continue
        used = name if machine.is_bound else _available(name, machine, substituted)
        parts = _roofline(work, machine) if machine.is_bound else _calibrated(used, work, machine)
        rows.append(_row(op, name, used, parts, "", work.bytes))
    return pd.DataFrame(rows), substituted


def _row(op: dict[str, Any], name: str, used: str, parts: tuple[float, float, float], note: str,
         moved: float | None = None) -> dict[str, Any]:
    """One op's prediction row (ms); ``moved``: the bytes the runtime moves, when not the walker's."""
    compute, memory, overhead = parts
    total = compute + memory + overhead
    return {"index": op["index"], "op": op["op"], "module": op["module"], "op_class": name, "used_class": used,
            "flops": op["flops"], "bytes": op["bytes_read"] + op["bytes_written"] if moved is None else moved,
            "predicted_ms": total,
            "compute_ms": compute, "memory_ms": memory, "overhead_ms": overhead,
            "bound": _bound(compute, memory, overhead), "note": note or ("nearest class" if used != name else "")}


def _before_matmul(ops: list[dict[str, Any]]) -> set[int]:
    """Ops whose next op that is not a view is a matrix product: a transpose there is ``k^T`` of
    ``q @ k^T``, which ONNX Runtime folds into the product (FusedMatMul). The walker's data flow
    looks through views, so order is what tells it."""
    out: set[int] = set()
    pending: list[int] = []
    for op in ops:
        if op["kind"] == "view":
            pending.append(op["index"])
            continue
        if op["kind"] in ("linear", "matmul"):
            out.update(pending)
        pending = []
    return out


def _transpose_work(event: Any) -> Work:
    """A transpose ONNX Runtime runs as a Transpose node: its output read and written once."""
    moved = 2.0 * sum(t.nbytes for t in event.outputs[:1])
    return Work(0.0, moved, category="onnx Transpose", key=(log2(moved) if moved > 1 else 0.0,))


def _fuses(events: list[Any], flow: list[Any], ops: list[dict[str, Any]], i: int, fused: set[int]) -> bool:
    """A BN or simple activation whose input comes straight from a conv (or a BN folded into one)."""
    kind, name = ops[i]["kind"], events[i].op
    if kind not in ("bn", "act") or not flow[i] or (kind == "act" and name not in FUSED_ACTIVATIONS):
        return False
    producer = flow[i][0].op
    if producer < 0:
        return False
    return ops[producer]["kind"] == "conv" or (producer in fused and ops[producer]["kind"] == "bn")


def _available(name: str, machine: MachineProfile, substituted: dict[str, str]) -> str:
    """``name`` if calibrated, else the nearest calibrated class (recorded in ``substituted``)."""
    seen, current = {name}, name
    while current not in machine.classes:
        current = NEAREST.get(current, "eltwise")
        if current in seen:
            current = next(iter(machine.classes))
            break
        seen.add(current)
    if current != name:
        substituted[name] = current
    return current


def _calibrated(name: str, work: Any, machine: MachineProfile) -> tuple[float, float, float]:
    """(compute, memory, overhead) ms of one op from its class's coefficients."""
    fit = machine.classes[name]
    local = correction(fit.residuals, work.category, work.key) if fit.residuals else 1.0
    values = np.array(feature_row(name, work)) * np.array(fit.coef) * 1e3 * local
    parts = {"compute": 0.0, "memory": 0.0, "overhead": 0.0}
    for feature, value in zip(CLASSES[name].feature_names, values):
        parts[_part(feature)] += float(value)
    return parts["compute"], parts["memory"], parts["overhead"]


def _part(feature: str) -> str:
    """Which bound a feature's time counts toward."""
    if feature == "overhead":
        return "overhead"
    return "memory" if "bytes" in feature else "compute"


def _roofline(work: Any, machine: MachineProfile) -> tuple[float, float, float]:
    """(compute, memory, 0) ms of the roofline bound: only the larger of the two counts."""
    compute = work.flops / (machine.peak_gflops * 1e6)
    memory = work.bytes / (machine.bandwidth_gbs * 1e6)
    return (compute, 0.0, 0.0) if compute >= memory else (0.0, memory, 0.0)


def _bound(compute: float, memory: float, overhead: float) -> str:
    """The largest part's name ("none" for an op predicted to take no time)."""
    if compute == memory == overhead == 0:
        return "none"
    return max(zip((compute, memory, overhead), BOUNDS))[1]


def layer_frame(ops: pd.DataFrame, depth: int | None = None) -> pd.DataFrame:
    """Per-layer sums of the op predictions (grouped at ``depth`` if given), in execution order."""
    names = ops["module"] if depth is None else ops["module"].map(lambda n: ancestor(n, depth))
    parts = ["predicted_ms", "compute_ms", "memory_ms", "overhead_ms"]
    grouped = ops.assign(name=names).groupby("name", sort=False)[parts].sum().reset_index()
    grouped["bound"] = [_bound(c, m, o) for c, m, o in zip(grouped["compute_ms"], grouped["memory_ms"],
                                                           grouped["overhead_ms"])]
    nearest = ops.assign(name=names).groupby("name", sort=False)["note"].agg(lambda s: "nearest class" in set(s))
    grouped["nearest_class"] = grouped["name"].map(nearest).fillna(False).astype(bool)
    return grouped


def join_layers(layers: pd.DataFrame, prediction: Prediction) -> pd.DataFrame:
    """An analysis layer table with ``predicted_ms`` and ``bound`` added (0 and "none" where no op ran)."""
    pred = prediction.layers.set_index("name")
    out = layers.copy()
    out["predicted_ms"] = out["name"].map(pred["predicted_ms"]).fillna(0.0)
    out["bound"] = out["name"].map(pred["bound"]).fillna("none")
    return out


__all__ = ["Prediction", "predict", "predict_measured", "join_layers", "machine_summary", "ROOT"]
