"""The environment a measurement runs in: device, dtype, thread count, and the stamp recording them."""
from __future__ import annotations

import os
import platform
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import torch

from cspcost import __version__
from cspcost.errors import DeviceError, UsageError
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


@contextmanager
def thread_count(threads: int | None) -> Iterator[int]:
    """Run with ``threads`` intra-op CPU threads (None: torch's current count), then restore it."""
    before = torch.get_num_threads()
    if threads is not None and threads < 1:
        raise UsageError(f"threads must be at least 1, got {threads}")
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
    """What shaped a measurement: device and its name, CPU model, versions, threads, dtype."""
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


def _cpu_count() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
