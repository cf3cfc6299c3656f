"""The environment a measurement runs in: device, dtype, thread count, and the stamp recording them."""
from __future__ import annotations

import os
import platform
import time
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import torch

from cspcost import __version__
from cspcost.errors import DeviceError, UsageError
from cspcost.profiling.timing import Clock, EventTimer, HostTimer, Timer
from cspcost.walk.capture import check_device

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def parse_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """The torch dtype for a name, or a UsageError/DeviceError saying why it cannot be used here.

    Args:
        dtype: "float32", "float16", "bfloat16" (or the torch dtype itself).
        device: where the model will run.
    Returns:
        The torch dtype.
    """
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise UsageError(f"unsupported dtype {name!r}; use one of {', '.join(DTYPES)}")
    if name == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"bfloat16 is not supported by {device_name(device)}; use float16 or float32")
    return DTYPES[name]


def resolve_device(device: str) -> torch.device:
    """A cpu or cuda device (meta cannot be timed), or a DeviceError."""
    dev = check_device(device)
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"cannot time on device {device!r}; use cpu or cuda")
    return dev


def sync_for(device: torch.device) -> Any:
    """The function that waits for queued work on ``device`` (a no-op on CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def timer_for(device: torch.device, clock: Clock = time.perf_counter) -> Timer:
    """CUDA events on a GPU (device time of the queued kernels), else the synchronised host clock."""
    return EventTimer() if device.type == "cuda" else HostTimer(clock, sync_for(device))


def device_context(device: torch.device) -> Any:
    """Make ``device`` current on CUDA (events, streams and ``synchronize()`` then refer to it)."""
    return torch.cuda.device(device) if device.type == "cuda" else nullcontext()


def check_threads(threads: int | None) -> None:
    """A thread count from 1 to this machine's logical CPUs (more only makes the threads wait for
    each other, and a huge count makes OpenMP fail to allocate its thread pool), or None."""
    most = os.cpu_count() or 1
    if threads is not None and not (isinstance(threads, int) and 1 <= threads <= most):
        raise UsageError(f"threads must be from 1 to {most} (this machine's logical CPUs), got {threads!r}")


@contextmanager
def thread_count(threads: int | None) -> Iterator[int]:
    """Run with ``threads`` intra-op CPU threads (None: torch's current count), then restore it."""
    before = torch.get_num_threads()
    check_threads(threads)
    torch.set_num_threads(threads or before)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


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


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, the CPU model on CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def stamp(device: torch.device, threads: int, dtype: torch.dtype) -> dict[str, Any]:
    """What shaped a measurement: device and its name, CPU model, versions, threads, dtype
    (and on CUDA, the cuDNN and TF32 settings that change which kernels run)."""
    return {**_base_stamp(device, threads, dtype), **(cuda_settings() if device.type == "cuda" else {})}


def _base_stamp(device: torch.device, threads: int, dtype: torch.dtype) -> dict[str, Any]:
    """The device-independent part of the stamp."""
    return {
        "device": str(device),
        "device_name": device_name(device),
        "cpu_model": cpu_model(),
        "cpu_count": _cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "",
        "cspcost": __version__,
        "python": platform.python_version(),
        "threads": threads,
        "dtype": str(dtype).removeprefix("torch."),
    }


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
def device_memory(device: torch.device, cuda: Any = None) -> Iterator[dict[str, Any]]:
    """The CUDA caching allocator's peak while the block runs (``{}`` on CPU).

    Peaks are reset first (``reset_peak_memory_stats``) and read after a synchronisation:
    ``max_memory_allocated`` is what tensors used, ``max_memory_reserved`` what the allocator
    held from the driver. ``cuda`` is ``torch.cuda`` (injectable for tests).
    """
    memory: dict[str, Any] = {}
    if device.type != "cuda":
        yield memory
        return
    api = cuda or torch.cuda
    api.synchronize(device)
    api.reset_peak_memory_stats(device)
    try:
        yield memory
    finally:
        api.synchronize(device)
        memory["cuda_max_allocated_bytes"] = int(api.max_memory_allocated(device))
        memory["cuda_max_reserved_bytes"] = int(api.max_memory_reserved(device))


def _cpu_count() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
