"""Paired latency: several models timed in one process, interleaved, compared by per-round ratios.

A machine whose speed drifts (turbo, thermal limits, a shared host's memory bandwidth) moves every
model's latency together, so timing model A in one block and model B in the next puts the drift
into their difference. Here all models are built and warmed up first, then timed in rounds: each
round runs every model once, in an order shuffled with a fixed seed (so no model always runs
after the same neighbour, whose caches it would inherit). Each round's time of model i over the
first model's time in the same round is one ratio; drift common to a round cancels in it. The
ratio reported is the median of those per-round ratios, with the distribution-free
order-statistics 95% interval of that median (``intervals.median_interval``); the difference is
significant when the interval excludes 1.
"""
from __future__ import annotations

import random
import time
from typing import Callable, Sequence

import torch
from torch import nn

from cspcost.errors import UsageError
from cspcost.profiling.intervals import MIN_SAMPLES
from cspcost.profiling.loading import gc_paused
from cspcost.profiling.noise import load_meter
from cspcost.profiling.paired_result import METHOD, PairedModel, PairedResult, build_result  # noqa: F401 - re-exported
from cspcost.profiling.session import open_bench
from cspcost.profiling.spec import ProfileSpec
from cspcost.profiling.timing import Clock, PhaseProgress, Timer

def paired(
    models: Sequence[nn.Module | str],
    input_size: Sequence[int] | None = None,
    batch: int = 1,
    *,
    device: str = "cpu",
    threads: int | None = 1,
    dtype: str | torch.dtype = "float32",
    channels_last: bool = False,
    warmup: int = 5,
    rounds: int = 30,
    seed: int = 0,
    shuffle: bool = True,
    clock: Clock = time.perf_counter,
    timer: Timer | None = None,
    progress: PhaseProgress | None = None,
    processes: int = 1,
    runtime: str = "eager",
    precision: str = "f32",
    cache_dir: str | None = None,
    ort_level: str = "all",
) -> PairedResult:
    """Time several models interleaved in rounds and compare each with the first.

    Args:
        models: zoo names, ``file.py:factory`` specs or modules (each built with seed 0, its
            inputs made once with seed 0: the weights and inputs ``profile`` would time).
        input_size: one (C, H, W) for all; default: each model's own.
        batch: batch size.
        device, threads, dtype, channels_last: as ``profile``.
        warmup: untimed rounds first (every model once per round; at least 1).
        rounds: timed rounds (at least ``MIN_SAMPLES`` = 6, the fewest with a 95% interval).
        seed: seeds the order shuffle.
        shuffle: shuffle the order within each round (else always the given order).
        clock: seconds; injectable for tests. timer: times one forward (default as ``profile``).
        progress: called with ("warmup" | "rounds", done, total).
        processes: run the whole measurement in this many fresh processes and merge them (the
            interval then also spans the differences between processes).
        runtime: the runtime every model runs under (as ``profile``).
        precision, cache_dir, ort_level: as ``profile``.
    Returns:
        A PairedResult: per model the median latency, and against the first model the median
        per-round ratio with its 95% interval and sign-test p-value.
    """
    if len(models) < 2:
        raise UsageError("a paired comparison needs at least two models")
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise UsageError(f"processes must be an integer of at least 1, got {processes!r}")
    if not isinstance(rounds, int) or rounds < MIN_SAMPLES:
        raise UsageError(f"rounds must be an integer of at least {MIN_SAMPLES}, got {rounds!r}")
    spec = ProfileSpec(tuple(models), input_size, batch, device, str(dtype), threads, channels_last, warmup,
                       rounds, None, (runtime,), precision, False, seed, shuffle, ort_level)
    return paired_spec(spec, processes, clock=clock, timer=timer, progress=progress, cache_dir=cache_dir)


def paired_spec(spec: ProfileSpec, processes: int = 1, *, clock: Clock = time.perf_counter,
                timer: Timer | None = None, progress: PhaseProgress | None = None,
                cache_dir: str | None = None) -> PairedResult:
    """The paired measurement of a spec: every model under every runtime, interleaved in rounds."""
    spec.check_paired()
    if processes > 1:
        from cspcost.profiling.processes import paired_processes

        return paired_processes(spec, processes, cache_dir=cache_dir)
    with open_bench(spec, cache_dir) as bench:
        measure = timer or (None if clock is time.perf_counter else bench.device.timer(clock))
        forwards = [(e.prepared.forward, measure or e.prepared.timer) for e in bench.entries]
        orders = _orders(len(forwards), spec.repeat, spec.seed, spec.shuffle)
        with load_meter(bench.threads) as load, gc_paused():
            _run_rounds(forwards, [list(range(len(forwards)))] * spec.warmup, progress, "warmup")
            seconds = _run_rounds(forwards, orders, progress, "rounds")
        env = {**bench.environment(), "batch": spec.batch, "channels_last": spec.channels_last, **load}
        names = [e.name for e in bench.entries]
        shapes = [e.input_shape for e in bench.entries]
        runtimes = [e.runtime for e in bench.entries]
    return build_result(names, shapes, [seconds], orders, spec.warmup, env, runtimes=runtimes)


def _orders(n_models: int, rounds: int, seed: int, shuffle: bool) -> list[list[int]]:
    """The order of the models in each round: shuffled by a seeded generator, or as given."""
    rng = random.Random(seed)
    orders = []
    for _ in range(rounds):
        order = list(range(n_models))
        if shuffle:
            rng.shuffle(order)
        orders.append(order)
    return orders


def _run_rounds(forwards: list[tuple[Callable[[], object], Timer]], orders: list[list[int]],
                progress: PhaseProgress | None, phase: str) -> list[list[float]]:
    """Run every entry once per round in the round's order, each by its timer: seconds[entry][round]."""
    seconds: list[list[float]] = [[0.0] * len(orders) for _ in forwards]
    for r, order in enumerate(orders):
        for i in order:
            forward, timer = forwards[i]
            seconds[i][r] = timer(forward)
        if progress:
            progress(phase, r + 1, len(orders))
    return seconds
