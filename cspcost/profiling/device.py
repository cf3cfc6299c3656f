"""The device layer: everything that differs between CPU and CUDA, in one place.

``device_layer(device)`` gives a ``CpuDevice`` or a ``CudaDevice``; the profiler asks it to wait for
queued work, for a timer, for the op stamps of per-layer timing, for the allocator's peaks, to make the
device current and to free memory after an out-of-memory error, instead of branching on the device
type. On CUDA (checked against PyTorch's CUDA semantics notes and ``torch.cuda.Event``'s
documentation): events are recorded on the current stream, so the device is made current for the
whole measurement; a timed call is bracketed by two timing-enabled events and the end event is
waited for before ``elapsed_time`` (kernel launches are asynchronous); the caching allocator's peaks
are reset before the timed runs and read after a synchronisation.
"""
from __future__ import annotations

import gc
import platform
import time
from collections import defaultdict
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import torch

from cspcost.errors import DeviceError, UsageError
from cspcost.profiling.timing import Clock, EventTimer, HostTimer, Timer
from cspcost.walk.capture import check_device

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Messages of out-of-memory errors that surface as plain RuntimeErrors (CPU allocator, CUDA, MPS).
_OOM_MARKERS = ("out of memory", "not enough memory", "can't allocate memory")


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux: fall back below
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


class HostStamps:
    """Per-op timing by a host clock (CPU: an op's work is done when it returns)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.totals: dict[str, float] = defaultdict(float)

    def start(self) -> Any:
        """A start mark."""
        return self.clock()

    def stop(self, layer: str, start: Any) -> None:
        """Charge the time since ``start`` to ``layer``."""
        self.totals[layer] += self.clock() - start

    def collect(self) -> dict[str, float]:
        """Seconds per layer for the run."""
        return dict(self.totals)


class CudaStamps:
    """Per-op timing by CUDA events, read once after the run (no per-op synchronisation)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, torch.cuda.Event, torch.cuda.Event]] = []

    def start(self) -> Any:
        """A recorded start event."""
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def stop(self, layer: str, start: Any) -> None:
        """Record the end event of an op charged to ``layer``."""
        end = torch.cuda.Event(enable_timing=True)
        end.record()
        self.spans.append((layer, start, end))

    def collect(self) -> dict[str, float]:
        """Seconds per layer for the run (synchronises once)."""
        torch.cuda.synchronize()
        totals: dict[str, float] = defaultdict(float)
        for layer, start, end in self.spans:
            totals[layer] += start.elapsed_time(end) / 1e3
        return dict(totals)


class CpuDevice:
    """The CPU: work is done when a call returns; no allocator statistics."""

    onnx_providers: tuple[str, ...] = ()  # ONNX Runtime providers to prefer before the CPU's

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def sync(self) -> None:
        """Nothing is queued on the CPU."""

    def timer(self, clock: Clock = time.perf_counter) -> Timer:
        """The host clock."""
        return HostTimer(clock, self.sync)

    def host_timer(self, clock: Clock = time.perf_counter) -> Timer:
        """The host clock around a synchronised call: for runtimes that queue work on their own streams
        (ONNX Runtime's CUDA providers), which events on torch's stream would not bracket."""
        return HostTimer(clock, self.sync)

    def op_stamps(self, clock: Clock) -> HostStamps | CudaStamps:
        """Per-op stamps for per-layer timing."""
        return HostStamps(clock)

    def context(self) -> AbstractContextManager[Any]:
        """Nothing to make current."""
        return nullcontext()

    def memory(self, cuda: Any = None) -> AbstractContextManager[dict[str, Any]]:
        """No allocator peaks on the CPU (``{}``)."""
        return nullcontext({})

    def settings(self) -> dict[str, Any]:
        """No kernel-choosing flags to state."""
        return {}

    def name(self) -> str:
        """The CPU model."""
        return cpu_model()

    def check_dtype(self, name: str) -> None:
        """Every dtype in ``DTYPES`` runs on the CPU."""

    def free(self) -> None:
        """Collect garbage after an out-of-memory error."""
        gc.collect()


class CudaDevice(CpuDevice):
    """A CUDA GPU: events, synchronisation, the caching allocator, cuDNN/TF32 flags."""

    onnx_providers = ("TensorrtExecutionProvider", "CUDAExecutionProvider")

    def sync(self) -> None:
        """Wait for the device's queued kernels."""
        torch.cuda.synchronize(self.device)

    def timer(self, clock: Clock = time.perf_counter) -> Timer:
        """CUDA events around the call (device time of the queued kernels)."""
        return EventTimer()

    def op_stamps(self, clock: Clock) -> HostStamps | CudaStamps:
        """CUDA events per op."""
        return CudaStamps()

    def context(self) -> AbstractContextManager[Any]:
        """Make the device current, so events, streams and ``synchronize()`` refer to it."""
        return torch.cuda.device(self.device)

    def memory(self, cuda: Any = None) -> AbstractContextManager[dict[str, Any]]:
        """The caching allocator's peaks while the block runs."""
        return cuda_memory(self.device, cuda)

    def settings(self) -> dict[str, Any]:
        """cuDNN and TF32 flags."""
        return cuda_settings()

    def name(self) -> str:
        """The GPU's name."""
        return torch.cuda.get_device_name(self.device)

    def check_dtype(self, name: str) -> None:
        """bfloat16 needs a GPU that supports it."""
        if name == "bfloat16" and not torch.cuda.is_bf16_supported():
            raise DeviceError(f"bfloat16 is not supported by {self.name()}; use float16 or float32")

    def free(self) -> None:
        """Collect garbage and return the allocator's cached blocks."""
        gc.collect()
        torch.cuda.empty_cache()


_LAYERS: dict[str, type[CpuDevice]] = {"cpu": CpuDevice, "cuda": CudaDevice}


def device_layer(device: torch.device | str) -> CpuDevice:
    """The device layer for a cpu or cuda device (meta and others cannot be timed: DeviceError)."""
    dev = check_device(device) if isinstance(device, str) else device
    if dev.type not in _LAYERS:
        raise DeviceError(f"cannot time on device {str(device)!r}; use cpu or cuda")
    return _LAYERS[dev.type](dev)


def timer_for(device: torch.device, clock: Clock = time.perf_counter) -> Timer:
    """CUDA events on a GPU (device time of the queued kernels), else the synchronised host clock."""
    return device_layer(device).timer(clock)


def resolve_device(device: str) -> torch.device:
    """A cpu or cuda device (meta cannot be timed), or a DeviceError."""
    return device_layer(device).device


def parse_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """The torch dtype for a name, or a UsageError/DeviceError saying why it cannot be used here."""
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise UsageError(f"unsupported dtype {name!r}; use one of {', '.join(DTYPES)}")
    device_layer(device).check_dtype(name)
    return DTYPES[name]


def is_oom(exc: BaseException) -> bool:
    """Whether an exception is an out-of-memory error of any device."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MARKERS)


def cuda_settings(backends: Any = None) -> dict[str, Any]:
    """cuDNN and TF32 flags, stated because they change the kernels (and the speed) on CUDA.

    ``cudnn.benchmark`` (off by default) lets cuDNN time its algorithms on the first call of each
    input shape: the warm-up absorbs that, so timed runs see the chosen kernels. TF32 matmul or
    convolution make float32 run on tensor cores at reduced precision.
    """
    b = backends or torch.backends
    return {
        "cudnn_version": b.cudnn.version() if b.cudnn.is_available() else None,
        "cudnn_benchmark": bool(b.cudnn.benchmark),
        "cudnn_deterministic": bool(b.cudnn.deterministic),
        "cudnn_allow_tf32": bool(b.cudnn.allow_tf32),
        "matmul_allow_tf32": bool(b.cuda.matmul.allow_tf32),
    }


@contextmanager
def cuda_memory(device: torch.device, cuda: Any = None) -> Iterator[dict[str, Any]]:
    """The CUDA caching allocator's peak while the block runs.

    Peaks are reset first (``reset_peak_memory_stats``) and read after a synchronisation:
    ``max_memory_allocated`` is what tensors used, ``max_memory_reserved`` what the allocator
    held from the driver. ``cuda`` is ``torch.cuda`` (injectable for tests).
    """
    memory: dict[str, Any] = {}
    api = cuda or torch.cuda
    api.synchronize(device)
    api.reset_peak_memory_stats(device)
    try:
        yield memory
    finally:
        api.synchronize(device)
        memory["cuda_max_allocated_bytes"] = int(api.max_memory_allocated(device))
        memory["cuda_max_reserved_bytes"] = int(api.max_memory_reserved(device))


def device_memory(device: torch.device, cuda: Any = None) -> AbstractContextManager[dict[str, Any]]:
    """The allocator's peaks while the block runs (``{}`` on CPU); ``cuda`` injectable for tests."""
    return device_layer(device).memory(cuda)
