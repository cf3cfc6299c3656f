"""ONNX Runtime: the exported model in an ``InferenceSession``, per layer from ORT's own profiler.

Threads: ``intra_op_num_threads`` = the measurement's threads, one inter-op thread, sequential
execution, and thread spinning off (spinning workers burn the cores between runs and distort
interleaved timing). Providers: CPUExecutionProvider; on ``--device cuda`` TensorRT and CUDA first
when this onnxruntime build has them. Per layer: a second session with profiling on writes one
``<node>_kernel_time`` event per node per run; each is charged to a module through the exported
graph (``onnx_graph``). ORT renames the nodes it rewrites; a name is looked up as it is, without
ORT's suffixes (``_nchwc``, ``/...Fusion/``, ``_token_N``), as the tensor it produces, and through
ORT's saved optimized graph (``optimized_model_filepath``: same names, no metadata) for layout
reorders (charged to the node they feed or follow). Profiling costs 1-4% on conv nets and up to ~18%
on graphs of many small nodes (the per-run wall time is reported beside the plain latency).
"""
from __future__ import annotations

import importlib.util
import json
import re
import tempfile
import time
from pathlib import Path
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from cspcost.errors import UsageError
from cspcost.profiling.device import device_layer
from cspcost.profiling.runtimes.registry import register
from cspcost.profiling.runtimes.base import ModuleTimes, Prepared, RuntimeOptions, SimplePrepared
from cspcost.profiling.runtimes.onnx_export import (
    eager_outputs,
    export_onnx,
    max_abs_diff,
)
from cspcost.profiling.runtimes.onnx_graph import OnnxGraph, add_time, fused_lists, merge_fused, read_graph

_NP_TYPES = {torch.float32: np.float32, torch.float16: np.float16}
_SUFFIXES = (re.compile(r"_nchwc$"), re.compile(r"/.*$"), re.compile(r"_token_\d+$"))
_REORDERS = ("ReorderInput", "ReorderOutput")


class OnnxRuntime:
    """ONNX Runtime on the dynamo-exported model."""

    name = "onnxruntime"
    extra = "onnx"
    per_layer = "ORT's profiler (_kernel_time events), mapped to modules via the exporter's metadata"

    def missing(self) -> str:
        """A one-line install hint when onnx, onnxscript or onnxruntime is absent."""
        absent = [m for m in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(m) is None]
        return f"not installed (pip install 'cspcost[onnx]'; missing {', '.join(absent)})" if absent else ""

    def prepare(self, model: nn.Module, inputs: Sequence[torch.Tensor], options: RuntimeOptions) -> Prepared:
        """Export (cached), open a session, check its outputs against eager."""
        import onnxruntime as ort

        if any(x.dtype == torch.bfloat16 for x in inputs):
            raise UsageError(f"the {self.name} runtime takes float32 or float16 inputs here; use --dtype float32")
        start = time.perf_counter()
        exported = export_onnx(model, inputs, options.cache_dir)
        providers = providers_for(options.device, ort.get_available_providers())
        level = options.ort_optimization
        session = _session(exported.path, options.threads, providers, level)
        feeds = {i.name: x.detach().cpu().numpy() for i, x in zip(session.get_inputs(), inputs)}
        diff = max_abs_diff(eager_outputs(model, inputs), session.run(None, feeds), self.name)
        on_gpu = session.get_providers()[0] != "CPUExecutionProvider"
        info = {"runtime": self.name, "onnxruntime": ort.__version__, "providers": session.get_providers(),
                "graph_optimization": level, "spinning": False, **exported.stamp(),
                "max_abs_diff_vs_eager": diff, "prepare_s": time.perf_counter() - start}
        forward = _bound_run(session, inputs) if on_gpu else lambda: session.run(None, feeds)
        layers = lambda runs: profile_layers(exported.path, feeds, options.threads, providers, runs, model,  # noqa: E731
                                             forward, level)
        # ORT's CUDA providers run on their own stream: a synchronised host clock, not torch's events
        return SimplePrepared(forward, device_layer(options.device).host_timer(), info, layers)


def _bound_run(session: Any, inputs: Sequence[torch.Tensor]) -> Callable[[], object]:
    """A run with the inputs bound where they already are (the GPU) and outputs left on the device, so
    no host copies are timed (``IOBinding``)."""
    binding = session.io_binding()
    for meta, x in zip(session.get_inputs(), inputs):
        x = x.contiguous()
        binding.bind_input(meta.name, x.device.type, x.device.index or 0, _NP_TYPES[x.dtype], list(x.shape),
                           x.data_ptr())
    for meta in session.get_outputs():
        binding.bind_output(meta.name, inputs[0].device.type, inputs[0].device.index or 0)
    return lambda: session.run_with_iobinding(binding)


def providers_for(device: torch.device, available: Sequence[str]) -> list[str]:
    """TensorRT, CUDA (on a CUDA device, when this build has them), then CPU."""
    return [p for p in device_layer(device).onnx_providers if p in available] + ["CPUExecutionProvider"]


def session_options(threads: int, optimization: str = "ORT_ENABLE_ALL", spinning: bool = False) -> Any:
    """ORT ``SessionOptions`` as cspcost runs every session: ``threads`` intra-op threads, one inter-op
    thread, sequential execution, errors-only logging, the graph optimisation level named
    ``optimization`` (a ``GraphOptimizationLevel`` name), thread spinning off unless asked."""
    import onnxruntime as ort

    level = getattr(ort.GraphOptimizationLevel, optimization, None)
    if not optimization.startswith("ORT_") or level is None:
        names = ", ".join(n for n in dir(ort.GraphOptimizationLevel) if n.startswith("ORT_"))
        raise UsageError(f"unknown ONNX Runtime optimisation level {optimization!r}; choose one of {names}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = level
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only: the optimized-model warning is expected
    return opts


def _session(path: Path, threads: int, providers: list[str], optimization: str = "ORT_ENABLE_ALL",
             profile_prefix: str = "", optimized: str = "") -> Any:
    """An InferenceSession with the thread settings every runtime uses (and profiling when asked)."""
    import onnxruntime as ort

    opts = session_options(threads, optimization)
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    if optimized:
        opts.optimized_model_filepath = optimized
    return ort.InferenceSession(str(path), opts, providers=providers)


def profile_layers(path: Path, feeds: dict[str, Any], threads: int, providers: list[str], runs: int,
                   model: nn.Module, reference: Callable[[], object],
                   optimization: str = "ORT_ENABLE_ALL") -> ModuleTimes:
    """Per-module times over ``runs`` profiled runs (after one warm-up run), each preceded by a timed
    plain forward (``reference``): both see the same load, so the per-layer sum compares like with like."""
    import onnx

    references = []
    with tempfile.TemporaryDirectory(prefix="cspcost-ort-") as tmp:
        optimized = str(Path(tmp) / "optimized.onnx")
        session = _session(path, threads, providers, optimization, str(Path(tmp) / "profile"), optimized)
        session.run(None, feeds)
        for _ in range(runs):
            references.append(_seconds(reference))
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
        runtime_graph = onnx.load(optimized, load_external_data=False)
    graph = read_graph(onnx.load(str(path), load_external_data=False), model)
    return replace(map_events(events, graph, runtime_graph, skip=1), reference_s=references)


def _seconds(fn: Callable[[], object]) -> float:
    """The wall time of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def map_events(events: list[dict[str, Any]], graph: OnnxGraph, runtime_graph: Any, skip: int = 0) -> ModuleTimes:
    """ORT profile events (runs after the first ``skip``) charged to modules."""
    spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                   if e.get("cat") == "Session" and e.get("name") == "model_run")[skip:]
    runtime = _RuntimeNodes(runtime_graph)
    per_module: dict[str, list[float]] = {}
    unmapped: dict[str, list[float]] = {}
    fused: dict[str, set[str]] = {}
    nodes = 0
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        run = next((i for i, (a, b) in enumerate(spans) if a <= event["ts"] <= b), None)
        if run is None:
            continue
        nodes += run == 0
        name, op = event["name"].removesuffix("_kernel_time"), event.get("args", {}).get("op_name", "?")
        found = resolve_node(name, op, graph, runtime)
        seconds = event["dur"] / 1e6
        if not found:
            add_time(unmapped, op, run, len(spans), seconds)
            continue
        module, away = graph.charge(found)
        add_time(per_module, module, run, len(spans), seconds)
        merge_fused(fused, module, away)
    walls = [(b - a) / 1e6 for a, b in spans]
    return ModuleTimes(per_module, unmapped, walls, fused_lists(fused), nodes,
                       "ONNX Runtime profiler: _kernel_time events")


class _RuntimeNodes:
    """ORT's optimized graph: each node's op, inputs and outputs, tensor producers and consumers."""

    def __init__(self, proto: Any) -> None:
        self.nodes = {n.name: n for n in proto.graph.node}
        self.producer = {t: n.name for n in proto.graph.node for t in n.output}
        self.consumers: dict[str, list[str]] = {}
        for n in proto.graph.node:
            for t in n.input:
                self.consumers.setdefault(t, []).append(n.name)


def resolve_node(name: str, op: str, graph: OnnxGraph, runtime: _RuntimeNodes, depth: int = 0) -> list[str]:
    """The exported nodes an ORT node stands for (main op first-class), or [] if none is found."""
    for candidate in _candidates(name):
        node = graph.node_for(candidate)
        if node:
            return graph.main_upstream(node) if _is_main(op) and graph.op_of[node] != op else [node]
    if depth > 3 or name not in runtime.nodes:
        return []
    node = runtime.nodes[name]
    for tensor in node.output:  # a renamed node may still produce the original tensor
        if tensor in graph.producer:
            return [graph.producer[tensor]]
    neighbours = ([runtime.producer.get(t) for t in node.input] if node.op_type == "ReorderOutput"
                  else [c for t in node.output for c in runtime.consumers.get(t, [])])
    for other in filter(None, neighbours):
        found = resolve_node(other, runtime.nodes[other].op_type, graph, runtime, depth + 1)
        if found:
            return found
    return []


def _candidates(name: str) -> list[str]:
    """A runtime node's name, then without each of ORT's fusion suffixes."""
    out = [name]
    for pattern in _SUFFIXES:
        stripped = pattern.sub("", out[-1])
        if stripped and stripped not in out:
            out.append(stripped)
    return out


def _is_main(op: str) -> bool:
    """Whether an ORT op is a main op that may have absorbed element-wise ops after it."""
    return op in ("Conv", "FusedConv", "MatMul", "FusedMatMul", "Gemm", "FusedGemm")


register(OnnxRuntime())
