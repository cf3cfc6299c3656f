"""Real latency on CPU and CUDA: ``cspcost.profile(model_or_name, ...)``.

The model runs in eval mode under ``torch.inference_mode`` with real weights; inputs are made once
on the device; warm-up runs precede the timed ones. Model construction, weight transfer and input
creation are never timed.

On CUDA (checked against PyTorch's CUDA semantics notes and ``torch.cuda.Event``'s documentation):
the device is made current for the whole measurement, so events, the current stream and
``synchronize()`` refer to it; each timed forward is bracketed by two timing-enabled events
recorded on the current stream, and the end event is waited for before ``elapsed_time`` (kernel
launches are asynchronous: a host clock without synchronisation would time the launch loop); the
warm-up absorbs cuDNN's algorithm search when ``torch.backends.cudnn.benchmark`` is on, and that
flag, ``deterministic`` and the TF32 flags are stated in the stamp; the caching allocator's peak
(``max_memory_allocated``/``max_memory_reserved``) is reset before the timed runs and read after a
synchronisation; bfloat16 is refused where ``torch.cuda.is_bf16_supported()`` says no; an
out-of-memory error empties the allocator's cache before smaller batches are tried.
"""
from __future__ import annotations

import copy
import gc
import time
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from cspcost.errors import (
    CspcostError,
    ForwardError,
    MetaDeviceError,
    ModelLoadError,
    OutOfMemoryError,
    UnsupportedDtypeError,
    UsageError,
    failure_text,
)
from cspcost.profiling.environment import (
    check_threads,
    device_context,
    device_memory,
    parse_dtype,
    resolve_device,
    stamp,
    sync_for,
    thread_count,
    timer_for,
)
from cspcost.profiling.layers import time_layers
from cspcost.profiling.noise import load_meter, warnings
from cspcost.profiling.peaks import DevicePeaks, measure_peaks
from cspcost.profiling.result import ProfileResult, join_layers, layer_summary
from cspcost.profiling.timing import (
    Clock,
    Progress,
    Timer,
    summarize,
    time_budget,
    time_calls,
)
from cspcost.shapes import check_shape
from cspcost.sources.resolve import resolve
from cspcost.sources.record import DEFAULT_INPUT
from cspcost.walk.analysis import analyze
from cspcost.walk.capture import (
    eval_mode,  # eval for the run, each module's own flag restored after
)
from cspcost.walk.untouched import kept

MAX_LAYER_RUNS = 50  # instrumented runs are slower; more than this adds little to a median
# Messages of out-of-memory errors that surface as plain RuntimeErrors (CPU allocator, CUDA, MPS).
_OOM_MARKERS = ("out of memory", "not enough memory", "can't allocate memory")


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
    progress: Progress | None = None,
    processes: int = 1,
) -> ProfileResult:
    """Measure a model's real latency, and optionally each layer's, joined with the walker's costs.

    Args:
        model_or_name: an ``nn.Module`` with real weights (copied if it must change device, dtype
            or memory format; never modified), a zoo name, or ``file.py:factory``.
        input_size: (C, H, W) without batch, or a list of such shapes; default: the zoo model's
            own, else (3, 224, 224).
        batch: batch size.
        device: "cpu" or "cuda" (or "cuda:N").
        threads: CPU intra-op threads for the measurement (default 1, as ``torch.utils.benchmark``:
            reproducible on a shared machine, no OpenMP wake-ups between ops; None: torch's
            current count).
        dtype: "float32", "float16" or "bfloat16" (weights and inputs).
        channels_last: NHWC memory format for the model and 4-D inputs.
        warmup: untimed forwards before timing (0 or more; the first forward, which checks that the
            model runs, always happens and counts as one).
        repeat: timed forwards (at least 1); ignored when ``min_time`` is given.
        min_time: a time budget in seconds instead of ``repeat`` (blocks of calls, as
            ``torch.utils.benchmark``'s ``blocked_autorange``).
        per_layer: also time each layer (instrumented runs, after the model-level timing).
        depth: module depth of ``.layers`` (None: every executing module).
        peaks: device peaks for the roofline: True uses the cache (measuring once if needed),
            False skips the roofline, or pass a ``DevicePeaks``.
        clock: seconds; injectable for tests.
        timer: times one forward (default: CUDA events on CUDA, ``clock`` on CPU); injectable.
        progress: called with (phase, done, total or None); phases "warmup", "timing", "layers",
            "peaks".
        processes: repeat the measurement in this many fresh processes and merge them (a model
            name or spec only; not with ``per_layer``).
    Returns:
        A ProfileResult (``.latency``, ``.fps``, ``.layers``, ``.to_json()``).
    Raises:
        UsageError: bad counts, sizes or dtype name. DeviceError: CUDA absent, dtype unsupported on
        the device (UnsupportedDtypeError), out of memory (OutOfMemoryError, with the largest
        batch that fitted).
    """
    _check_counts(batch, warmup, repeat, min_time, depth)
    check_threads(threads)
    if processes != 1:
        return _in_processes(processes, dict(
            model_or_name=model_or_name, input_size=input_size, batch=batch, device=device, threads=threads,
            dtype=str(dtype).removeprefix("torch."), channels_last=channels_last, warmup=warmup,
            repeat=repeat, min_time=min_time, per_layer=per_layer))
    dev = resolve_device(device)
    torch_dtype = parse_dtype(dtype, dev)
    name, model, sizes = load_model(model_or_name, input_size, dev, torch_dtype, channels_last)
    for size in sizes:
        check_shape(size, batch)  # the batched input too, before anything is allocated
    timer = timer or default_timer(dev, clock)
    # kept: a forward that writes the user's buffers or weights leaves no trace on their module
    with kept(model_or_name), thread_count(threads) as n_threads, device_context(dev), eval_mode(model), \
            torch.inference_mode():
        inputs = first_forward(model, sizes, batch, dev, torch_dtype, channels_last)
        with load_meter(n_threads) as load, device_memory(dev) as memory:
            samples, number = _time_model(model, inputs, timer, warmup, repeat, min_time, progress)
        result = ProfileResult(name, [tuple(t.shape) for t in inputs], batch, summarize(samples),
                               [s * 1e3 for s in samples], depth=depth)
        result.environment = {**stamp(dev, n_threads, torch_dtype), **_settings(
            result, channels_last, warmup, number, min_time), **load, **memory}
        result.warnings = warnings(result.samples_ms, result.latency.cv, result.environment)
        if per_layer:
            _add_layers(result, model, inputs, dev, sizes, torch_dtype, peaks, n_threads, clock, progress)
    return result


def _in_processes(processes: int, kwargs: dict[str, Any]) -> ProfileResult:
    """The measurement in fresh processes, merged."""
    from cspcost.profiling.processes import profile_processes

    if not isinstance(processes, int) or processes < 1:
        raise UsageError(f"processes must be a positive integer, got {processes!r}")
    return profile_processes(kwargs, processes)


default_timer = timer_for  # CUDA events on a GPU, else the synchronised host clock


def load_model(model_or_name: nn.Module | str, input_size: Any, dev: torch.device, dtype: torch.dtype,
               channels_last: bool) -> tuple[str, nn.Module, list[tuple[int, ...]]]:
    """(display name, the model ready on the device, the input sizes) for a module or a spec."""
    name, model, default_size = _load(model_or_name, dev)
    sizes = _sizes(input_size or default_size or DEFAULT_INPUT)
    return name, _prepare(model, dev, dtype, channels_last, owned=isinstance(model_or_name, str)), sizes


def _check_counts(batch: int, warmup: int, repeat: int, min_time: float | None, depth: int | None) -> None:
    """Reject counts that cannot give a measurement."""
    for label, value, least in (("batch", batch, 1), ("warmup", warmup, 0), ("repeat", repeat, 1)):
        if not isinstance(value, int) or value < least:
            raise UsageError(f"{label} must be an integer of at least {least}, got {value!r}")
    if min_time is not None and not min_time > 0:
        raise UsageError(f"min_time must be a positive number of seconds, got {min_time!r}")
    if depth is not None and depth < 1:
        raise UsageError(f"depth must be at least 1, got {depth}")


def _load(model_or_name: nn.Module | str, dev: torch.device) -> tuple[str, nn.Module, tuple[int, ...] | None]:
    """The display name, a module with real weights, and the default input size."""
    if isinstance(model_or_name, nn.Module):
        return type(model_or_name).__name__, model_or_name, None
    if not isinstance(model_or_name, str):
        raise UsageError(f"expected a model name or an nn.Module, got {type(model_or_name).__name__}")
    resolved = resolve(model_or_name)
    try:
        # Build straight on the device (no host copy), with the same weights in every run: random
        # initial weights differ in subnormal values and so in speed. The caller's RNG is untouched.
        with torch.random.fork_rng(), torch.device(dev):
            torch.manual_seed(0)
            model = resolved.factory()
    except CspcostError:  # a source's own one-line error: not wrapped a second time
        raise
    except SystemExit as exc:  # a factory that exits is bad input (issue 23), not cspcost's exit
        raise ModelLoadError(f"building {resolved.name!r} failed: {failure_text(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - the user's factory failed
        if _is_oom(exc):
            raise OutOfMemoryError(f"out of memory building {resolved.name!r} on {dev}") from exc
        raise ModelLoadError(f"building {resolved.name!r} failed: {type(exc).__name__}: {exc}") from exc
    return resolved.name, model, resolved.input_size


def _sizes(size: Sequence[Any]) -> list[tuple[int, ...]]:
    """One or several (C, H, W) sizes, validated."""
    several = isinstance(size, Sequence) and bool(size) and isinstance(size[0], Sequence)
    return [check_shape(s) for s in (size if several else [size])]


def _prepare(model: nn.Module, dev: torch.device, dtype: torch.dtype, channels_last: bool,
             owned: bool) -> nn.Module:
    """The model on ``dev`` at ``dtype`` (and NHWC); a copy if the caller's module must change."""
    tensors = [*model.parameters(), *model.buffers()]
    if any(t.is_meta for t in tensors):
        raise UsageError("the model has weights on the meta device; profiling needs real weights")
    floating = [t for t in tensors if t.is_floating_point()]
    if channels_last or any(t.device != dev or t.dtype != dtype for t in floating):
        if not owned:
            model = copy.deepcopy(model)  # the caller's module keeps its device, dtype and format
        model = model.to(device=dev, dtype=dtype)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
    return model


def _make_inputs(sizes: list[tuple[int, ...]], batch: int, dev: torch.device, dtype: torch.dtype,
                 channels_last: bool) -> list[torch.Tensor]:
    """Random inputs on the device (fixed seed), NHWC when asked for 4-D inputs."""
    gen = torch.Generator(device=dev).manual_seed(0)
    tensors = [torch.randn((batch, *s), generator=gen, device=dev, dtype=dtype) for s in sizes]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [t.contiguous(memory_format=fmt) if t.dim() == 4 else t for t in tensors]


def first_forward(model: nn.Module, sizes: list[tuple[int, ...]], batch: int, dev: torch.device,
                   dtype: torch.dtype, channels_last: bool) -> list[torch.Tensor]:
    """Make the inputs and run one forward, turning failures into one-line errors."""
    try:
        inputs = _make_inputs(sizes, batch, dev, dtype, channels_last)
        model(*inputs)
        return inputs
    except SystemExit as exc:  # the user's forward exited: bad input, not cspcost's exit
        raise ForwardError(f"forward of {type(model).__name__} failed: {failure_text(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - re-raised as a one-line user error
        # Drop the inputs and the activations the traceback's frames hold, so that the memory
        # is free before smaller batches are tried.
        inputs = None  # noqa: F841
        traceback.clear_frames(exc.__traceback__)
        raise _forward_failure(exc, model, sizes, batch, dev, dtype, channels_last) from exc


def _forward_failure(exc: Exception, model: nn.Module, sizes: list[tuple[int, ...]], batch: int,
                     dev: torch.device, dtype: torch.dtype, channels_last: bool) -> Exception:
    """The user error for a failed first forward: out of memory, dtype, or the forward itself."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if _is_oom(exc):
        _free(dev)
        fit = largest_batch(lambda b: _fits(model, sizes, b, dev, dtype, channels_last), batch)
        hint = (f"the largest batch that fitted was {fit} (try --batch {fit})" if fit
                else "not even batch 1 fitted")
        return OutOfMemoryError(f"out of memory at batch {batch} on {dev}; {hint}", fit)
    dtype_name = str(dtype).removeprefix("torch.")
    if "not implemented for" in first or "unsupported dtype" in first.lower():
        return UnsupportedDtypeError(f"{dtype_name} is not supported on {dev} by this model: {first}")
    return ForwardError(f"forward failed on {dev}: {type(exc).__name__}: {first}")


def _is_oom(exc: BaseException) -> bool:
    """Whether an exception is an out-of-memory error of any device."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MARKERS)


def largest_batch(fits: Callable[[int], bool], batch: int) -> int | None:
    """The largest of batch/2, batch/4, ..., 1 for which ``fits`` holds (None if none does).

    Args:
        fits: runs a forward at a batch size; False if it ran out of memory.
        batch: the batch that did not fit.
    Returns:
        The first halved batch that fits, or None.
    """
    candidate = batch // 2
    while candidate >= 1:
        if fits(candidate):
            return candidate
        candidate //= 2
    return None


def _fits(model: nn.Module, sizes: list[tuple[int, ...]], batch: int, dev: torch.device,
          dtype: torch.dtype, channels_last: bool) -> bool:
    """Whether one forward at ``batch`` runs without running out of memory."""
    try:
        model(*_make_inputs(sizes, batch, dev, dtype, channels_last))
        return True
    except Exception as exc:  # noqa: BLE001 - anything but OOM is not ours to judge here
        if not _is_oom(exc):
            raise
        _free(dev)
        return False


def _free(dev: torch.device) -> None:
    """Return cached device memory after an out-of-memory error."""
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


@contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection inside timed loops (as ``timeit`` does): its pauses are not the model's."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _time_model(model: nn.Module, inputs: list[torch.Tensor], timer: Timer, warmup: int,
                repeat: int, min_time: float | None,
                progress: Progress | None) -> tuple[list[float], int]:
    """Warm up, then time forwards: (seconds per forward per sample, forwards per sample)."""
    forward = lambda: model(*inputs)  # noqa: E731 - the timed work, nothing else
    with gc_paused():
        # the checking first forward was the first warm-up call (with warmup 0: the only untimed one)
        time_calls(forward, max(warmup - 1, 0), timer=timer, progress=progress, phase="warmup")
        if min_time is not None:
            return time_budget(forward, min_time, timer=timer, progress=progress)
        return time_calls(forward, repeat, timer=timer, progress=progress), 1


def _settings(result: ProfileResult, channels_last: bool, warmup: int, number: int,
              min_time: float | None) -> dict[str, Any]:
    """The measurement's own settings, for the environment stamp."""
    return {
        "batch": result.batch,
        "input": "x".join(map(str, result.input_shape[0][1:])),
        "channels_last": channels_last,
        "warmup": warmup,  # including the first (checking) forward
        "runs": result.latency.runs,
        "calls_per_run": number,
        "iterations": result.latency.runs * number,
        "min_time_s": min_time,
    }


def _add_layers(result: ProfileResult, model: nn.Module, inputs: list[torch.Tensor], dev: torch.device,
                sizes: list[tuple[int, ...]], dtype: torch.dtype, peaks: DevicePeaks | bool,
                threads: int, clock: Clock, progress: Progress | None) -> None:
    """Time each layer, join with the walker's costs and the roofline, and summarise."""
    runs = min(result.latency.runs, MAX_LAYER_RUNS)
    with gc_paused():
        times = time_layers(model, inputs, runs, device=dev, sync=sync_for(dev), clock=clock,
                            progress=progress, reference=lambda: model(*inputs))
    result.analysis = _walker(model, sizes, result.batch, dtype, dev)
    device_peaks = _peaks(peaks, dev, dtype, threads, progress)
    result.raw_layers = join_layers(result.analysis.layers, times, device_peaks)
    result.layer_summary = layer_summary(result.raw_layers, times, result.latency.median_ms)
    result.peaks = device_peaks
    result.module_types = {n or "(root)": type(m).__name__ for n, m in model.named_modules()}


def _walker(model: nn.Module, sizes: list[tuple[int, ...]], batch: int, dtype: torch.dtype,
            dev: torch.device) -> Any:
    """The walker's analysis (per-layer costs): on meta, or on the device for a model meta cannot run."""
    try:
        return analyze(model, sizes, batch, dtype=dtype)
    except MetaDeviceError:
        return analyze(model, sizes, batch, dtype=dtype, device=str(dev))


def _peaks(peaks: DevicePeaks | bool, dev: torch.device, dtype: torch.dtype, threads: int,
           progress: Progress | None) -> DevicePeaks | None:
    """The peaks to use: given, cached (measured once), or none."""
    if isinstance(peaks, DevicePeaks):
        return peaks
    if not peaks:
        return None
    return measure_peaks(str(dev), dtype=dtype, threads=threads, progress=progress)
