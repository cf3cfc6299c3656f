"""Runtimes to time a module under: eager PyTorch and ONNX Runtime, behind one small protocol.

A thin adapter for calibration and validation over the profiling backends' pieces (ONNX Runtime's
session options come from ``profiling.runtimes.onnxrt.session_options``): it keeps its own export
(TorchScript, in memory: hundreds of one-op graphs, none worth a cache file) and binds outputs in
ORT's memory (a one-op graph would otherwise pay a copy of its whole output). Each runtime turns an ``nn.Module`` and its inputs into a zero-argument callable
that runs one forward, so calibration, the whole-model measurement and the benchmark time the same
thing. Threads are fixed for the life of the runtime object.
"""
from __future__ import annotations

import io
import statistics
import time
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Protocol, Sequence

import torch
from torch import nn

from cspcost.errors import UsageError

Runner = Callable[[], object]


class Runtime(Protocol):
    """What calibration and validation need of a runtime."""

    name: str
    threads: int

    def version(self) -> str:
        """The runtime's version (stamped into machine files)."""
        ...

    def prepare(self, module: nn.Module, inputs: Sequence[torch.Tensor]) -> Runner:
        """A callable running one forward of ``module`` on ``inputs``."""
        ...


class Eager:
    """PyTorch eager mode on the CPU, in ``inference_mode``."""

    name = "eager"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def version(self) -> str:
        """torch's version."""
        return torch.__version__

    def prepare(self, module: nn.Module, inputs: Sequence[torch.Tensor]) -> Runner:
        """``module(*inputs)`` under inference mode."""
        module.eval()

        def run() -> object:
            with torch.inference_mode():
                return module(*inputs)
        return run


class OnnxRuntime:
    """ONNX Runtime's CPU provider with extended graph optimisations (ORT_ENABLE_EXTENDED).

    Extended keeps every fusion (BN into conv, activations into conv, GELU, LayerNorm, attention)
    but not the x86 NCHWc layout transformation of ORT_ENABLE_ALL: that one wraps a lone conv in
    layout reorders it would not pay inside a model, so single-op calibration graphs would not run
    the kernels the model runs. Predictions and measurements are both for this setting.
    """

    name = "onnxruntime"
    optimization = "ORT_ENABLE_EXTENDED"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._ort = _runtime_module("onnxruntime", "pip install onnxruntime")

    def version(self) -> str:
        """onnxruntime's version."""
        return str(self._ort.__version__)

    def prepare(self, module: nn.Module, inputs: Sequence[torch.Tensor]) -> Runner:
        """The module exported to ONNX (TorchScript exporter, opset 17) and run in one session."""
        from cspcost.profiling.runtimes.onnxrt import session_options

        blob = export_onnx(module, inputs)
        # The profiling backend's session options at this level; spinning left on as ORT's default.
        options = session_options(self.threads, self.optimization, spinning=True)
        session = self._ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
        # Bound inputs and outputs left in ONNX Runtime's memory: ``session.run`` would copy every
        # output into a new numpy array, a cost a one-op calibration graph pays on its whole output
        # and a model only on its last.
        binding = session.io_binding()
        for arg, x in zip(session.get_inputs(), inputs):
            binding.bind_cpu_input(arg.name, x.detach().contiguous().numpy())
        for out in session.get_outputs():
            binding.bind_output(out.name, "cpu")
        return lambda: session.run_with_iobinding(binding)


class OpenVino:
    """OpenVINO's CPU plugin, as the profiling backend configures it (``profiling.runtimes.ov``):
    ``INFERENCE_NUM_THREADS`` = threads, one stream, the LATENCY hint, f32 precision.

    A one-op graph timed whole costs several times the same node in a model (measured here: every
    prediction 40-240% high), because OpenVINO wraps it in layout reorders and per-inference
    work a model pays once. ``prepare_op`` therefore times the op by its performance counters:
    the executed nodes' own time, reorders and the graph's inputs and outputs left out.
    """

    name = "openvino"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._ov = _runtime_module("openvino", "pip install 'cspcost[openvino]'")

    def version(self) -> str:
        """OpenVINO's version."""
        return str(self._ov.get_version())

    def prepare(self, module: nn.Module, inputs: Sequence[torch.Tensor]) -> Runner:
        """The module exported to ONNX (in memory), compiled for the CPU, its inputs shared with
        the tensors given (so a caller that rewrites them rewrites what OpenVINO reads)."""
        request = self._request(module, inputs, {})
        # Outputs left in OpenVINO's memory: a copy would cost a one-op graph its whole output.
        return lambda: request.infer(share_outputs=True)

    def prepare_op(self, module: nn.Module, inputs: Sequence[torch.Tensor]) -> NodeTimedRunner:
        """As ``prepare``, compiled with performance counters: a runner that also reports the
        op's node time (``NodeTimedRunner``)."""
        return NodeTimedRunner(self._request(module, inputs, {"PERF_COUNT": "YES"}))

    def _request(self, module: nn.Module, inputs: Sequence[torch.Tensor], extra: dict[str, Any]) -> Any:
        """An infer request of the module compiled with the profiling backend's config and ``extra``."""
        from cspcost.profiling.runtimes.base import RuntimeOptions
        from cspcost.profiling.runtimes.ov import _config

        core = self._ov.Core()
        config = {**_config(RuntimeOptions(torch.device("cpu"), self.threads)), **extra}
        compiled = core.compile_model(core.read_model(export_onnx(module, inputs)), "CPU", config)
        request = compiled.create_infer_request()
        for i, x in enumerate(inputs):
            request.set_input_tensor(i, self._ov.Tensor(x.detach().contiguous().numpy(), shared_memory=True))
        return request


class NodeTimedRunner:
    """An OpenVINO request whose op time is read from its performance counters.

    OpenVINO's counters are running means since the request's first inference, so the time of the
    runs after ``mark()`` is recovered from the cumulative sums: ``(n x mean_n - m x mean_m) / (n - m)``.
    """

    SKIPPED = {"Reorder", "Parameter", "Result", "Input", "Output", "Constant"}

    def __init__(self, request: Any) -> None:
        self.request = request
        self.calls = 0
        self.marked = (0, 0.0)

    def __call__(self) -> object:
        """One inference (outputs left in OpenVINO's memory)."""
        self.calls += 1
        return self.request.infer(share_outputs=True)

    def mark(self) -> None:
        """Start counting here (after the warm-up)."""
        self.marked = (self.calls, self._mean_s())

    def node_seconds(self) -> float:
        """The executed op nodes' mean time per run since ``mark()``, in seconds."""
        start, mean_start = self.marked
        runs = self.calls - start
        return (self.calls * self._mean_s() - start * mean_start) / runs if runs > 0 else self._mean_s()

    def _mean_s(self) -> float:
        """The counters' current mean per inference, summed over the op nodes."""
        return sum(info.real_time.total_seconds() for info in self.request.profiling_info
                   if str(info.status).endswith("EXECUTED") and info.node_type not in self.SKIPPED)


def _runtime_module(name: str, install: str) -> Any:
    """The runtime's Python package, or a one-line UsageError with the install that adds it."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - installed with the [onnx] / [openvino] extras
        raise UsageError(f"the {name} runtime needs {name} ({install})") from exc


RUNTIMES: dict[str, Callable[[int], Runtime]] = {"eager": Eager, "onnxruntime": OnnxRuntime, "openvino": OpenVino}


def make_runtime(name: str, threads: int = 1) -> Runtime:
    """The runtime called ``name`` (eager, onnxruntime) with ``threads`` CPU threads."""
    if name not in RUNTIMES:
        if name == "compile":
            raise UsageError("the compile runtime is measured (cspcost profile --runtime compile), not predicted: "
                             f"calibrate and predict for {', '.join(RUNTIMES)}")
        raise UsageError(f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}")
    if threads < 1:
        raise UsageError(f"threads must be at least 1, got {threads}")
    return RUNTIMES[name](threads)


def export_onnx(module: nn.Module, inputs: Sequence[torch.Tensor]) -> bytes:
    """The module as ONNX bytes (eval mode; BN folded by the exporter's constant folding)."""
    module.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(inputs), buffer,  # type: ignore[arg-type]  # a file object is accepted
                          dynamo=False, opset_version=17, do_constant_folding=True)
    return buffer.getvalue()


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads set for the block, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_runner(run: Runner, *, warmup: int = 2, min_runs: int = 5, budget_s: float = 0.05,
                max_runs: int = 200, clock: Callable[[], float] = time.perf_counter,
                setup: Callable[[], object] | None = None) -> float:
    """The median time of ``run`` in seconds: ``warmup`` untimed calls, then timed calls until
    ``min_runs`` and ``budget_s`` are both reached (at most ``max_runs``); ``setup`` runs untimed
    before each timed call. A ``NodeTimedRunner`` gives its node time over the timed calls instead."""
    for _ in range(warmup):
        run()
    if isinstance(run, NodeTimedRunner):
        run.mark()
    samples: list[float] = []
    while len(samples) < max_runs and (len(samples) < min_runs or sum(samples) < budget_s):
        if setup is not None:
            setup()
        start = clock()
        run()
        samples.append(clock() - start)
    return run.node_seconds() if isinstance(run, NodeTimedRunner) else statistics.median(samples)


WARM_BYTES = 30 * 2**20  # just under glibc's largest dynamic mmap threshold (32 MiB on 64-bit)


def warm_allocator() -> None:
    """Put glibc's malloc in the state a long-running process reaches: one large block allocated
    and freed raises its dynamic mmap threshold, so later tensors below it come from the heap
    instead of fresh ``mmap`` pages that fault on every forward (a fresh process running
    MobileNetV2 faults about 3,000 pages per forward here, a third of its CPU time). Measurement
    and calibration both start from this state, so they see the same allocator."""
    block = torch.empty(WARM_BYTES // 4, dtype=torch.float32)
    block.fill_(0.0)
    del block


def random_inputs(shapes: Sequence[tuple[int, ...]], seed: int = 0) -> list[torch.Tensor]:
    """Seeded random CPU float32 tensors of the given shapes."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=generator) for s in shapes]


def describe(runtime: Runtime) -> dict[str, Any]:
    """The runtime's stamp: name, version, threads, and its graph optimisation level if it has one."""
    stamp = {"runtime": runtime.name, "runtime_version": runtime.version(), "threads": runtime.threads}
    level = getattr(runtime, "optimization", None)
    return {**stamp, "graph_optimization": level} if level else stamp
