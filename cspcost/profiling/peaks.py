"""Device peaks (matmul and conv GFLOP/s, memory GB/s) from micro-benchmarks, cached; the roofline.

Each peak is the best of a few timed runs (the least disturbed one: a peak is what the device can
do, not what it typically does). Bandwidth counts bytes read plus bytes written, the same
convention as the walker's ``bytes_read + bytes_written``, so a copy of N bytes moves 2N.
This module is also the library side of ``cspcost device`` (the CLI only prints ``measure_peaks``).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from cspcost.cache import default_dir as cache_dir
from cspcost.cache import warn_unwritable
from cspcost.errors import UsageError
from cspcost.files import write_atomic
from cspcost.profiling.device import device_layer, parse_dtype, resolve_device, timer_for
from cspcost.profiling.environment import check_threads, stamp
from cspcost.profiling.timing import Clock, PhaseProgress, Timer, time_calls
from cspcost.threads import thread_count

# Stamp keys that must match for a cached measurement to be reused.
CACHE_KEYS = ("device", "device_name", "torch", "threads", "dtype")
WARMUP = 2  # untimed runs before each benchmark (allocations, oneDNN primitive creation)
BUDGET_S, MIN_REPEAT = 0.3, 5  # each benchmark: at least MIN_REPEAT runs and BUDGET_S seconds

# Problem sizes per device type: large enough to saturate the device, small enough to take well
# under a second each (on CPU: a 2-core machine runs the whole set in about 1-2 s).
SIZES = {
    "cpu": {"matmul_n": 1024, "conv": (1, 128, 56), "copy_mib": 128},
    "cuda": {"matmul_n": 4096, "conv": (32, 256, 56), "copy_mib": 512},
}


@dataclass(frozen=True)
class DevicePeaks:
    """Measured peaks of one device at one dtype and thread count."""

    device: str
    matmul_gflops: float  # square matmul, 2*n^3 flops
    conv_gflops: float  # 3x3 conv, 2*MACs flops
    bandwidth_gbs: float  # large copy, bytes read + written, 1 GB = 1e9 bytes
    stamp: dict[str, Any]  # environment (cspcost.environment.stamp)
    measured_at: str  # ISO 8601, UTC

    @property
    def peak_gflops(self) -> float:
        """The compute ceiling of the roofline: the better of matmul and conv."""
        return max(self.matmul_gflops, self.conv_gflops)

    @property
    def ridge_intensity(self) -> float:
        """Flops per byte above which a layer is compute-bound."""
        return self.peak_gflops / self.bandwidth_gbs

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the fields plus ``peak_gflops`` and ``ridge_intensity``."""
        return {**asdict(self), "peak_gflops": self.peak_gflops, "ridge_intensity": self.ridge_intensity}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DevicePeaks:
        """The inverse of ``to_dict`` (derived keys ignored)."""
        return cls(data["device"], float(data["matmul_gflops"]), float(data["conv_gflops"]),
                   float(data["bandwidth_gbs"]), dict(data["stamp"]), data["measured_at"])


def roofline_ms(flops: Any, bytes_moved: Any, peak_gflops: float,
                bandwidth_gbs: float) -> tuple[Any, Any, Any]:
    """The roofline's time bounds, in ms, for scalars or pandas Series alike.

    Args:
        flops: floating-point operations.
        bytes_moved: bytes read plus written.
        peak_gflops: compute ceiling, GFLOP/s.
        bandwidth_gbs: memory bandwidth, GB/s.
    Returns:
        (compute_ms = flops/peak, memory_ms = bytes/bandwidth, predicted_ms = their maximum).
    """
    compute_ms = flops / (peak_gflops * 1e6)  # flops / (GFLOP/s * 1e9) s, times 1e3 ms/s
    memory_ms = bytes_moved / (bandwidth_gbs * 1e6)
    return compute_ms, memory_ms, _maximum(compute_ms, memory_ms)


def _maximum(a: Any, b: Any) -> Any:
    """Element-wise maximum of two scalars or two Series."""
    return a.where(a >= b, b) if hasattr(a, "where") else max(a, b)


def bound(compute_ms: float, memory_ms: float) -> str:
    """"compute" or "memory": which roof limits a layer ("none" for a layer that does nothing)."""
    if compute_ms == 0 and memory_ms == 0:
        return "none"
    return "compute" if compute_ms >= memory_ms else "memory"


def cache_path(device: torch.device, dtype: torch.dtype, threads: int) -> Path:
    """The cache file of one device, dtype and thread count."""
    index = "" if device.index is None else str(device.index)
    return cache_dir() / f"peaks-{device.type}{index}-{str(dtype).removeprefix('torch.')}-{threads}t.json"


def load_cached(path: Path, expected: dict[str, Any]) -> DevicePeaks | None:
    """The cached peaks at ``path`` if their stamp matches ``expected`` on CACHE_KEYS, else None."""
    try:
        peaks = DevicePeaks.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):  # absent or unreadable: measure afresh
        return None
    same = all(peaks.stamp.get(key) == expected.get(key) for key in CACHE_KEYS)
    return peaks if same else None


def measure_peaks(
    device: str = "cpu",
    *,
    dtype: str | torch.dtype = "float32",
    threads: int | None = None,
    cache: bool = True,
    refresh: bool = False,
    clock: Clock = time.perf_counter,
    progress: PhaseProgress | None = None,
) -> DevicePeaks:
    """Peak matmul and conv GFLOP/s and memory bandwidth GB/s of a device, cached as JSON.

    Args:
        device: "cpu" or "cuda" (or "cuda:1").
        dtype: "float32", "float16" or "bfloat16".
        threads: CPU intra-op threads (None: torch's current count).
        cache: read a matching cached result, and write a new one (``cache_dir()``).
        refresh: measure even if a matching cached result exists.
        clock: seconds; injectable for tests.
        progress: called with ("peaks", benchmarks done, 3).
    Returns:
        The peaks, stamped with the environment they were measured in.
    """
    dev = resolve_device(device)
    torch_dtype = parse_dtype(dtype, dev)
    check_threads(threads)
    with thread_count(threads) as n_threads, device_layer(dev).context():
        env = stamp(dev, n_threads, torch_dtype)
        path = cache_path(dev, torch_dtype, n_threads)
        cached = load_cached(path, env) if cache and not refresh else None
        if cached is not None:
            return cached
        peaks = _measure(dev, torch_dtype, env, clock, progress)
    if cache:
        try:
            write_atomic(path, json.dumps(peaks.to_dict(), indent=2))
        except (OSError, UsageError) as exc:  # a finished measurement outlives an unwritable cache
            warn_unwritable("device peaks", path.parent, exc)
    return peaks


def _measure(dev: torch.device, dtype: torch.dtype, env: dict[str, Any], clock: Clock,
             progress: PhaseProgress | None) -> DevicePeaks:
    """Run the three micro-benchmarks."""
    sizes = SIZES[dev.type]
    results = []
    benches = [_matmul_bench(sizes["matmul_n"], dev, dtype), _conv_bench(*sizes["conv"], dev, dtype),
               _copy_bench(sizes["copy_mib"], dev, dtype)]
    for i, (work, amount) in enumerate(benches):
        results.append(amount / _best_s(work, timer_for(dev, clock)) / 1e9)
        if progress:
            progress("peaks", i + 1, len(benches))
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return DevicePeaks(str(dev), *results, env, when)


def _best_s(work: Callable[[], object], timer: Timer) -> float:
    """The fastest timed run after WARMUP untimed ones, in seconds.

    Runs go on until BUDGET_S is spent (at least MIN_REPEAT): on a shared machine a longer window
    gives a better chance of one undisturbed run.
    """
    samples: list[float] = []
    with torch.inference_mode():
        time_calls(work, WARMUP, timer=timer)
        while len(samples) < MIN_REPEAT or sum(samples) < BUDGET_S:
            samples += time_calls(work, 1, timer=timer)
            if len(samples) >= 1000:  # a fake clock that never advances
                break
    return max(min(samples), 1e-9)


def _matmul_bench(n: int, dev: torch.device, dtype: torch.dtype) -> tuple[Callable[[], object], int]:
    """An n x n by n x n matmul: 2*n^3 flops."""
    a, b = (torch.randn(n, n, device=dev, dtype=dtype) for _ in range(2))
    out = torch.empty(n, n, device=dev, dtype=dtype)
    return (lambda: torch.mm(a, b, out=out)), 2 * n**3


def _conv_bench(batch: int, channels: int, size: int, dev: torch.device,
                dtype: torch.dtype) -> tuple[Callable[[], object], int]:
    """A 3x3 conv, channels -> channels at size x size, 'same' padding: 2*MACs flops."""
    conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(dev, dtype).eval()
    x = torch.randn(batch, channels, size, size, device=dev, dtype=dtype)
    macs = batch * channels * channels * 9 * size * size
    return (lambda: conv(x)), 2 * macs


def _copy_bench(mib: int, dev: torch.device, dtype: torch.dtype) -> tuple[Callable[[], object], int]:
    """A copy of ``mib`` MiB into a preallocated tensor: reads and writes 2 x that many bytes."""
    numel = mib * 2**20 // torch.empty((), dtype=dtype).element_size()
    src = torch.randn(numel, device=dev, dtype=dtype)
    dst = torch.empty_like(src)
    return (lambda: dst.copy_(src)), 2 * numel * src.element_size()
