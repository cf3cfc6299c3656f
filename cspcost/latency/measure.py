"""Whole-model latency under a runtime: what predictions are held to.

The model is built from its spec with seeded random weights (as ``cspcost profile`` does), put in
eval mode, and run under the runtime adapter with a fixed thread count: warm-up forwards, then the
median of timed forwards. ONNX Runtime runs the model exported by the TorchScript exporter.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from cspcost.errors import ModelLoadError, UsageError
from cspcost.latency.runtimes import make_runtime, random_inputs, torch_threads, warm_allocator
from cspcost.sources.resolve import resolve
from cspcost.sources.record import DEFAULT_INPUT


@dataclass(frozen=True)
class Measurement:
    """Median latency of one model under one runtime, with its spread."""

    model: str
    runtime: str
    threads: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    runs: int
    cpu_median_ms: float = 0.0  # the timed thread's CPU time: what a shared machine's load does not inflate


def build_model(spec: str | nn.Module, seed: int = 0) -> tuple[str, nn.Module, tuple[int, ...]]:
    """(name, module in eval mode, input size without batch) of a spec, weights seeded."""
    if isinstance(spec, nn.Module):
        size = getattr(spec, "input_size", None)
        return type(spec).__name__, spec.eval(), tuple(size) if size else DEFAULT_INPUT
    resolved = resolve(spec)
    try:
        # Real weights on the CPU, the same in every run (random weights differ in subnormal values,
        # and so in speed); the caller's RNG is untouched.
        with torch.random.fork_rng(), torch.device("cpu"):
            torch.manual_seed(seed)
            model = resolved.factory()
    except Exception as exc:  # noqa: BLE001 - the user's factory failed
        raise ModelLoadError(f"building {resolved.name!r} failed: {type(exc).__name__}: {exc}") from None
    return resolved.name, model.eval(), tuple(resolved.input_size or DEFAULT_INPUT)


def measure_model(spec: str | nn.Module, runtime: str = "eager", threads: int = 1, *,
                  input_size: Sequence[int] | None = None, batch: int = 1, warmup: int = 3,
                  repeat: int = 15, min_time_s: float = 0.0, seed: int = 0) -> Measurement:
    """The model's median forward time under ``runtime`` with ``threads`` threads.

    Args:
        spec: a model spec (as ``analyze`` takes) or a module.
        runtime: "eager", "onnxruntime" or "openvino".
        input_size: (C, H, W); default the model's own.
        warmup, repeat: untimed and timed forwards; ``min_time_s`` extends the timed runs to that long.
    Returns:
        A Measurement (median, p10, p90 in ms).
    """
    name, run = prepare_model(spec, runtime, threads, input_size=input_size, batch=batch, seed=seed)
    with torch_threads(threads):
        samples, cpu = timed(run, warmup, repeat, min_time_s)
    return summarise(name, runtime, threads, samples, cpu)


def prepare_model(spec: str | nn.Module, runtime: str = "eager", threads: int = 1, *,
                  input_size: Sequence[int] | None = None, batch: int = 1, seed: int = 0) -> tuple[str, Any]:
    """(name, a zero-argument forward under ``runtime``) of a spec: built, exported if need be,
    its input made once; run it inside ``torch_threads(threads)``."""
    name, model, size = build_model(spec, seed)
    shape = (batch, *(input_size or size))
    rt = make_runtime(runtime, threads)
    warm_allocator()
    with torch_threads(threads):
        try:
            return name, rt.prepare(model, random_inputs([shape], seed))
        except Exception as exc:  # noqa: BLE001 - an exporter failure is the model's, named in one line
            raise UsageError(f"{name}: cannot run under {runtime}: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def summarise(name: str, runtime: str, threads: int, samples: Sequence[float], cpu: Sequence[float]) -> Measurement:
    """A Measurement of wall and thread-CPU seconds per forward."""
    ms = sorted(s * 1e3 for s in samples)
    return Measurement(name, runtime, threads, statistics.median(ms), _quantile(ms, 0.1), _quantile(ms, 0.9),
                       len(ms), statistics.median(cpu) * 1e3)


def timed(run: Any, warmup: int, repeat: int, min_time_s: float = 0.0) -> tuple[list[float], list[float]]:
    """Wall seconds and thread CPU seconds of each timed call after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    samples: list[float] = []
    cpu: list[float] = []
    while len(samples) < repeat or sum(samples) < min_time_s:
        start, start_cpu = time.perf_counter(), time.thread_time()
        run()
        cpu.append(time.thread_time() - start_cpu)
        samples.append(time.perf_counter() - start)
    return samples, cpu


def _quantile(sorted_values: list[float], q: float) -> float:
    """The q-quantile by linear interpolation of sorted values."""
    pos = (len(sorted_values) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
