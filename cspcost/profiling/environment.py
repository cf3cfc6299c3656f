"""The environment a measurement runs in: thread count, and the stamp recording device, versions and dtype."""
from __future__ import annotations

import os
import platform
from typing import Any

import torch

from cspcost import __version__
from cspcost.errors import UsageError
from cspcost.profiling.device import (  # noqa: F401 - the device layer's names, re-exported
    DTYPES,
    cpu_model,
    cuda_settings,
    device_layer,
    device_memory,
    parse_dtype,
    resolve_device,
)


def check_threads(threads: int | None) -> None:
    """A thread count from 1 to this machine's logical CPUs (more only makes the threads wait for
    each other, and a huge count makes OpenMP fail to allocate its thread pool), or None."""
    most = os.cpu_count() or 1
    if threads is not None and not (isinstance(threads, int) and 1 <= threads <= most):
        raise UsageError(f"threads must be from 1 to {most} (this machine's logical CPUs), got {threads!r}")


def stamp(device: torch.device, threads: int, dtype: torch.dtype) -> dict[str, Any]:
    """What shaped a measurement: device and its name, CPU model, versions, threads, dtype
    (and on CUDA, the cuDNN and TF32 settings that change which kernels run)."""
    return {**_base_stamp(device, threads, dtype), **device_layer(device).settings()}


def _base_stamp(device: torch.device, threads: int, dtype: torch.dtype) -> dict[str, Any]:
    """The device-independent part of the stamp."""
    return {
        "device": str(device),
        "device_name": device_layer(device).name(),
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
