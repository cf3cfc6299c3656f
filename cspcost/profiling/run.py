"""Real latency under a runtime: ``cspcost.profile(model_or_name, ..., runtime="eager")``.

The model runs in eval mode under ``torch.inference_mode`` with real weights; inputs are made once
on the device; warm-up runs precede the timed ones. Model construction, weight transfer, input
creation, ONNX export and compilation are never timed (``session``). The runtimes are backends
(``runtimes``); the device specifics (CUDA events, synchronisation, allocator peaks) are in
``device``. With several runtimes, the one model is timed under each, interleaved (``paired``).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import nn

from cspcost.errors import MetaDeviceError, UsageError
from cspcost.profiling.device import timer_for
from cspcost.profiling.loading import gc_paused, largest_batch, load_model  # noqa: F401 - re-exported
from cspcost.profiling.noise import load_meter, noise_warnings
from cspcost.profiling.peaks import DevicePeaks, measure_peaks
from cspcost.profiling.result import ProfileResult, join_layers, layer_summary
from cspcost.profiling.runtimes import RUNTIMES, get_runtime
from cspcost.profiling.session import Bench, Entry, open_bench, time_entry
from cspcost.profiling.spec import ProfileSpec
from cspcost.profiling.timing import Clock, PhaseProgress, Timer, sample_stats
from cspcost.walk.analysis import analyze

if TYPE_CHECKING:
    from cspcost.profiling.paired import PairedResult

MAX_LAYER_RUNS = 50  # instrumented runs are slower; more than this adds little to a median


def profile(
    model_or_name: nn.Module | str,
    input_size: Sequence[int] | Sequence[Sequence[int]] | None = None,
    batch: int = 1,
    *,
    device: str = "cpu",
    threads: int | None = 1,
    dtype: str | torch.dtype = "float32",
    channels_last: bool = False,
    warmup: int = 10,
    repeat: int = 30,
    min_time: float | None = None,
    per_layer: bool = False,
    depth: int | None = None,
    peaks: DevicePeaks | bool = True,
    clock: Clock = time.perf_counter,
    timer: Timer | None = None,
    progress: PhaseProgress | None = None,
    processes: int = 1,
    runtime: str | Sequence[str] = "eager",
    precision: str = "f32",
    cache_dir: str | None = None,
    ort_level: str = "all",
) -> ProfileResult | PairedResult:
    """Measure a model's real latency under a runtime, and optionally each layer's, joined with the walker's costs.

    Args:
        model_or_name: an ``nn.Module`` with real weights (copied if it must change device, dtype
            or memory format; never modified), a zoo name, or ``file.py:factory``.
        input_size: (C, H, W) without batch, or a list of such shapes; default: the zoo model's
            own, else (3, 224, 224).
        batch: batch size.
        device: "cpu" or "cuda" (or "cuda:N").
        threads: intra-op threads in every runtime (default 1, as ``torch.utils.benchmark``:
            reproducible on a shared machine; None: torch's current count).
        dtype: "float32", "float16" or "bfloat16" (weights and inputs).
        channels_last: NHWC memory format for the model and 4-D inputs.
        warmup: untimed forwards before timing (at least 1).
        repeat: timed forwards (at least 1); ignored when ``min_time`` is given.
        min_time: a time budget in seconds instead of ``repeat`` (blocks of calls, as
            ``torch.utils.benchmark``'s ``blocked_autorange``).
        per_layer: also time each layer (profiled runs, after the model-level timing).
        depth: module depth of ``.layers`` (None: every executing module).
        peaks: device peaks for the roofline: True uses the cache (measuring once if needed),
            False skips the roofline, or pass a ``DevicePeaks``.
        clock: seconds; injectable for tests.
        timer: times one forward (default: CUDA events on CUDA, ``clock`` on CPU); injectable.
        progress: called with (phase, done, total or None); phases "warmup", "timing", "layers",
            "peaks".
        processes: repeat the measurement in this many fresh processes and merge them (a model
            name or spec only; not with ``per_layer``).
        runtime: "eager", "compile", "onnxruntime" or "openvino" (``runtimes.names()``); several
            (a list or "eager,onnxruntime") time the model under each, interleaved: a PairedResult.
        precision: OpenVINO's precision hint: "f32" (default, comparable) or "default" (its own).
        cache_dir: where exported ONNX files are cached (default ``onnx_export.cache_dir()``).
        ort_level: ONNX Runtime's graph optimisation: "all" (its default), "extended" (what the
            latency model is calibrated for), "basic" or "disabled".
    Returns:
        A ProfileResult (``.latency``, ``.fps``, ``.layers``, ``.runtime``, ``.to_json()``); a
        PairedResult for several runtimes.
    Raises:
        UsageError: bad counts, sizes, dtype or runtime name (MissingExtraError: runtime not
        installed). DeviceError: CUDA absent, dtype unsupported on the device
        (UnsupportedDtypeError), out of memory (OutOfMemoryError, with the largest batch that fitted).
    """
    runtimes = [runtime] if isinstance(runtime, str) and "," not in runtime else runtime
    spec = ProfileSpec((model_or_name,), input_size, batch, device, str(dtype), threads, channels_last,
                       warmup, repeat, min_time, tuple(_names(runtimes)), precision, per_layer,
                       ort_level=ort_level)
    if depth is not None and depth < 1:
        raise UsageError(f"depth must be at least 1, got {depth}")
    if len(spec.runtimes) > 1:
        return _runtimes_paired(spec, processes, progress, cache_dir)
    if per_layer and not RUNTIMES[spec.runtime].per_layer:
        raise UsageError(f"--per-layer: the {spec.runtime} runtime cannot time layers (try --runtime eager, "
                         "onnxruntime or openvino)")
    if processes != 1:
        return _in_processes(processes, spec, cache_dir)
    return run_spec(spec, depth=depth, peaks=peaks, clock=clock, timer=timer, progress=progress,
                    cache_dir=cache_dir)


def _names(runtimes: str | Sequence[str]) -> list[str]:
    """Runtime names from a comma list or a sequence."""
    from cspcost.profiling.runtimes import parse_runtimes

    return parse_runtimes(runtimes if isinstance(runtimes, str) else list(runtimes))


def run_spec(spec: ProfileSpec, *, depth: int | None = None, peaks: DevicePeaks | bool = True,
             clock: Clock = time.perf_counter, timer: Timer | None = None, progress: PhaseProgress | None = None,
             cache_dir: str | None = None) -> ProfileResult:
    """``profile`` of one model under one runtime, in this process."""
    get_runtime(spec.runtime)
    with open_bench(spec, cache_dir) as bench:
        entry = bench.entries[0]
        measure = timer or (entry.prepared.timer if clock is time.perf_counter else bench.device.timer(clock))
        with load_meter(bench.threads) as load, bench.device.memory() as memory:
            samples, number = time_entry(entry, spec, measure, progress)
        result = ProfileResult(entry.name, [tuple(t.shape) for t in entry.inputs], spec.batch,
                               sample_stats(samples), [s * 1e3 for s in samples], depth=depth,
                               runtime=spec.runtime)
        result.environment = {**bench.environment(), **_settings(result, spec, number), **load, **memory}
        result.warnings = noise_warnings(result.samples_ms, result.latency.cv, result.environment)
        if spec.per_layer:
            _add_layers(result, bench, entry, peaks, clock, progress)
    return result


def _runtimes_paired(spec: ProfileSpec, processes: int, progress: PhaseProgress | None,
                     cache_dir: str | None) -> PairedResult:
    """One model under several runtimes, interleaved in rounds, ratios against the first runtime."""
    from cspcost.profiling.paired import paired_spec

    if spec.per_layer:
        raise UsageError("--per-layer times one runtime at a time; give one --runtime")
    rounds = max(spec.repeat, 6)
    return paired_spec(spec.with_(repeat=rounds, warmup=min(spec.warmup, 5)), processes, progress=progress,
                       cache_dir=cache_dir)


def _in_processes(processes: int, spec: ProfileSpec, cache_dir: str | None) -> ProfileResult:
    """The measurement in fresh processes, merged."""
    from cspcost.profiling.processes import profile_processes

    if not isinstance(processes, int) or processes < 1:
        raise UsageError(f"processes must be a positive integer, got {processes!r}")
    return profile_processes(spec, processes, cache_dir=cache_dir)


default_timer = timer_for  # CUDA events on a GPU, else the synchronised host clock


def _settings(result: ProfileResult, spec: ProfileSpec, number: int) -> dict[str, Any]:
    """The measurement's own settings, for the environment stamp."""
    return {
        "batch": result.batch,
        "input": "x".join(map(str, result.input_shape[0][1:])),
        "channels_last": spec.channels_last,
        "warmup": spec.warmup,  # including the first (checking) forward
        "runs": result.latency.runs,
        "calls_per_run": number,
        "iterations": result.latency.runs * number,
        "min_time_s": spec.min_time,
    }


def _add_layers(result: ProfileResult, bench: Bench, entry: Entry, peaks: DevicePeaks | bool,
                clock: Clock, progress: PhaseProgress | None) -> None:
    """Time each layer under the runtime, join with the walker's costs and the roofline, summarise."""
    runs = min(result.latency.runs, MAX_LAYER_RUNS)
    if progress:
        progress("layers", 0, runs)
    with gc_paused():
        times = entry.prepared.layer_times(runs)
    if times is None:
        raise UsageError(f"--per-layer: the {entry.runtime} runtime cannot time layers")
    result.analysis = _walker(entry.model, entry.sizes, result.batch, bench.dtype, bench.device.device)
    device_peaks = _peaks(peaks, bench, progress)
    result.raw_layers = join_layers(result.analysis.layers, times, device_peaks)
    result.layer_summary = layer_summary(result.raw_layers, times, result.latency.median_ms)
    result.peaks = device_peaks
    result.module_types = {n or "(root)": type(m).__name__ for n, m in entry.model.named_modules()}
    result.mapped_time_share = times.mapped_share()
    result.unmapped_ms = {k: float(sorted(v)[len(v) // 2]) * 1e3 for k, v in times.unmapped_s.items()}
    result.fused_away = times.fused_away


def _walker(model: nn.Module, sizes: list[tuple[int, ...]], batch: int, dtype: torch.dtype,
            dev: torch.device) -> Any:
    """The walker's analysis (per-layer costs): on meta, or on the device for a model meta cannot run."""
    try:
        return analyze(model, sizes, batch, dtype=dtype)
    except MetaDeviceError:
        return analyze(model, sizes, batch, dtype=dtype, device=str(dev))


def _peaks(peaks: DevicePeaks | bool, bench: Bench, progress: PhaseProgress | None) -> DevicePeaks | None:
    """The peaks to use: given, cached (measured once), or none."""
    if isinstance(peaks, DevicePeaks):
        return peaks
    if not peaks:
        return None
    return measure_peaks(str(bench.device.device), dtype=bench.dtype, threads=bench.threads, progress=progress)
