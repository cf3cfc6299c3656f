"""OpenVINO (CPU): the exported ONNX model compiled by OpenVINO, per layer from its performance counters.

Precision: OpenVINO's CPU plugin runs float32 models at bfloat16 on CPUs with AVX-512-bf16 (its
default ``INFERENCE_PRECISION_HINT``); here the hint is ``f32`` unless ``precision="default"`` asks
for the runtime's own choice, so the numbers compare with the other runtimes. Threads:
``INFERENCE_NUM_THREADS`` = the measurement's threads, one stream, the LATENCY hint. Per layer: with
``PERF_COUNT`` on, each executed node's ``real_time``; the runtime model's ``originalLayersNames``
(rt_info) lists the ONNX nodes each executed node fused, charged to their main op's module
(``onnx_graph``); layout reorders OpenVINO inserts are charged to the node named in theirs.
"""
from __future__ import annotations

import importlib.util
import time
from typing import Any, Callable, Sequence

import torch
from torch import nn

from cspcost.errors import DeviceError, UsageError
from cspcost.profiling.device import device_layer
from cspcost.profiling.runtimes.registry import register
from cspcost.profiling.runtimes.base import ModuleTimes, Prepared, RuntimeOptions, SimplePrepared
from cspcost.profiling.runtimes.onnx_export import (
    LOW_PRECISION_RTOL,
    RTOL,
    eager_outputs,
    export_onnx,
    max_abs_diff,
)
from cspcost.profiling.runtimes.onnx_graph import OnnxGraph, add_time, fused_lists, merge_fused, read_graph


class OpenVino:
    """OpenVINO's CPU plugin on the dynamo-exported model."""

    name = "openvino"
    extra = "openvino"
    per_layer = "OpenVINO's performance counters (PERF_COUNT), mapped via originalLayersNames"

    def missing(self) -> str:
        """A one-line install hint when openvino (or the ONNX exporter's packages) is absent."""
        absent = [m for m in ("openvino", "onnx", "onnxscript") if importlib.util.find_spec(m) is None]
        return (f"not installed (pip install 'cspcost[openvino]'; missing {', '.join(absent)})"
                if absent else "")

    def prepare(self, model: nn.Module, inputs: Sequence[torch.Tensor], options: RuntimeOptions) -> Prepared:
        """Export (cached), compile for the CPU, check its outputs against eager."""
        import openvino as ov

        if options.device.type != "cpu":
            raise DeviceError("the openvino runtime runs on the CPU here; use --device cpu")
        if any(x.dtype == torch.bfloat16 for x in inputs):
            raise UsageError(f"the {self.name} runtime takes float32 or float16 inputs here; use --dtype float32")
        start = time.perf_counter()
        exported = export_onnx(model, inputs, options.cache_dir)
        core = ov.Core()
        config = _config(options)
        compiled = core.compile_model(core.read_model(str(exported.path)), "CPU", config)
        request = compiled.create_infer_request()
        arrays = [x.detach().cpu().numpy() for x in inputs]
        request.infer(arrays)
        outputs = [request.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]
        hint = _type_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
        rtol = RTOL if hint == "f32" else LOW_PRECISION_RTOL
        diff = max_abs_diff(eager_outputs(model, inputs), outputs, self.name, rtol)
        info = {"runtime": self.name, "openvino": ov.get_version(), "precision_hint": hint,
                "precision_asked": options.precision, **exported.stamp(), "max_abs_diff_vs_eager": diff,
                "prepare_s": time.perf_counter() - start}
        forward = lambda: request.infer(arrays)  # noqa: E731 - the timed work

        def layers(runs: int) -> ModuleTimes:
            import onnx

            graph = read_graph(onnx.load(str(exported.path), load_external_data=False), model)
            profiled = core.compile_model(core.read_model(str(exported.path)), "CPU", {**config, "PERF_COUNT": "YES"})
            return perf_counts(profiled, arrays, runs, graph, forward)

        return SimplePrepared(forward, device_layer(options.device).timer(), info, layers)


def _type_name(value: Any) -> str:
    """An OpenVINO element type as its short name (``f32``, ``bf16``)."""
    name = getattr(value, "get_type_name", None)
    return str(name()) if callable(name) else str(value)


def _config(options: RuntimeOptions) -> dict[str, Any]:
    """Threads, one stream, the latency hint, and the precision hint unless the default is asked for."""
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": options.threads, "NUM_STREAMS": 1,
                              "PERFORMANCE_HINT": "LATENCY"}
    if options.precision == "f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    return config


def perf_counts(compiled: Any, arrays: list[Any], runs: int, graph: OnnxGraph,
                reference: Callable[[], object]) -> ModuleTimes:
    """Per-module mean times over ``runs`` profiled inferences (after one warm-up), each preceded by a
    timed plain inference (``reference``: the same load for both).

    OpenVINO's CPU counters are running means since the request's first inference (measured: after a
    slow first run the reported sum decays towards the wall time), so a node's mean over the profiled
    runs is ``(n1 * mean1 - n0 * mean0) / runs``; every run is given that mean.
    """
    request = compiled.create_infer_request()
    request.infer(arrays)
    before = _cumulative(request, 1)
    walls: list[float] = []
    references: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        reference()
        references.append(time.perf_counter() - start)
        start = time.perf_counter()
        request.infer(arrays)
        walls.append(time.perf_counter() - start)
    after = _cumulative(request, runs + 1)
    origin = _original_names(compiled)
    per_module: dict[str, list[float]] = {}
    unmapped: dict[str, list[float]] = {}
    fused: dict[str, set[str]] = {}
    for (node, node_type), total in after.items():
        seconds = max(total - before.get((node, node_type), 0.0), 0.0) / runs
        names = _originals(node, origin, graph)
        if not names:
            for run in range(runs):
                add_time(unmapped, node_type, run, runs, seconds)
            continue
        module, away = graph.charge(names)
        for run in range(runs):
            add_time(per_module, module, run, runs, seconds)
        merge_fused(fused, module, away)
    return ModuleTimes(per_module, unmapped, walls, fused_lists(fused), len(after),
                       "OpenVINO performance counters (real_time, mean over the profiled runs)", references)


def _cumulative(request: Any, inferences: int) -> dict[tuple[str, str], float]:
    """Each executed node's total seconds over the request's ``inferences`` so far (mean x count)."""
    return {(p.node_name, p.node_type): p.real_time.total_seconds() * inferences
            for p in request.get_profiling_info() if p.status.name == "EXECUTED"}


def _original_names(compiled: Any) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Each runtime node's fused ONNX nodes (``rt_info["originalLayersNames"]``), and its neighbours
    in the runtime model (consumers, then producers) for nodes OpenVINO made itself."""
    own: dict[str, list[str]] = {}
    neighbours: dict[str, list[str]] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        name = op.get_friendly_name()
        info = op.get_rt_info()
        if "originalLayersNames" in info:
            own[name] = [n for n in info["originalLayersNames"].astype(str).split(",") if n]
        after = [t.get_node().get_friendly_name() for o in op.outputs() for t in o.get_target_inputs()]
        before = [i.get_source_output().get_node().get_friendly_name() for i in op.inputs()]
        neighbours[name] = after + before
    return own, neighbours


def _originals(node: str, origin: tuple[dict[str, list[str]], dict[str, list[str]]], graph: OnnxGraph,
               depth: int = 0) -> list[str]:
    """The ONNX nodes a runtime node stands for: its originalLayersNames (node or tensor names), its own
    name, for an inserted reorder (``<tensor>_<layout>_<node>``) the node named at the end, else (for
    a node OpenVINO made itself, such as a VariadicSplit from Slices) the nearest mapped neighbour."""
    own, neighbours = origin
    found = [n for n in dict.fromkeys(graph.node_for(m) for m in [*own.get(node, []), node]) if n]
    if found:
        return found
    tail = [n for n in graph.op_of if node.endswith("_" + n)]
    if tail:
        return [max(tail, key=len)]
    for other in neighbours.get(node, []) if depth < 2 else []:
        names = _originals(other, origin, graph, depth + 1)
        if names:
            return names[:1]
    return []


register(OpenVino())
