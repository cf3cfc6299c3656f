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
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from cspcost.errors import UsageError
from cspcost.profiling.environment import (
    check_threads,
    device_context,
    parse_dtype,
    resolve_device,
    stamp,
    thread_count,
)
from cspcost.profiling.intervals import MIN_SAMPLES, MedianInterval, paired_interval, sign_test_p
from cspcost.profiling.noise import load_meter, warnings
from cspcost.profiling.run import default_timer, first_forward, gc_paused, load_model
from cspcost.profiling.timing import Clock, Progress, Stats, Timer, summarize
from cspcost.shapes import check_shape
from cspcost.walk.capture import eval_mode
from cspcost.walk.untouched import kept

METHOD = ("median of per-round ratios; 95% interval: distribution-free order statistics "
          "[r(k), r(n+1-k)] of the n ratios, k the largest with 1 - 2 P(Binomial(n, 1/2) < k) >= 0.95")


@dataclass(frozen=True)
class PairedModel:
    """One model's rounds, its latency, and its ratio against the first model."""

    name: str
    input_shape: tuple[int, ...]  # with the batch dimension
    samples_ms: list[float] = field(repr=False)  # one per round, in round order (runs one after another)
    latency: Stats
    ratios_by_run: list[list[float]] = field(repr=False)  # time over the first's, per round, per run
    ratio: MedianInterval
    p_value: float  # two-sided sign test of "median ratio = 1"
    warnings: list[str]

    @property
    def ratios(self) -> list[float]:
        """Every per-round ratio, runs one after another."""
        return [x for run in self.ratios_by_run for x in run]

    @property
    def significant(self) -> bool:
        """Whether the 95% interval of the ratio excludes 1 (always False for the first model)."""
        return self.ratio.excludes(1.0)

    def row(self) -> dict[str, Any]:
        """The comparison fields: latency_ms, latency_ratio, latency_ratio_ci95, significance."""
        return {"latency_ms": self.latency.median_ms, "latency_ratio": self.ratio.median,
                "latency_ratio_ci95": [self.ratio.low, self.ratio.high],
                "latency_significant": self.significant, "latency_p_value": self.p_value,
                "latency_cv": self.latency.cv}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the row, the statistics, the per-round samples and ratios."""
        return {"model": self.name, "input_shape": list(self.input_shape), **self.row(),
                "latency": self.latency.to_dict(), "warnings": self.warnings,
                "samples_ms": self.samples_ms, "ratios": self.ratios,
                "rounds_per_run": [len(run) for run in self.ratios_by_run]}


@dataclass(frozen=True)
class PairedResult:
    """An interleaved measurement of several models; the first is the reference."""

    models: list[PairedModel]
    rounds: int
    warmup: int
    orders: list[list[int]] = field(repr=False)  # the order of the models in each round
    environment: dict[str, Any]
    warnings: list[str]  # about the machine during the whole measurement
    processes: int = 1  # fresh processes the rounds were run in (merged)
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (keys: method, rounds, warmup, processes, environment, warnings,
        models, orders)."""
        return {"method": self.method, "rounds": self.rounds, "warmup": self.warmup,
                "processes": self.processes, "environment": self.environment,
                "warnings": self.warnings, "models": [m.to_dict() for m in self.models],
                "orders": self.orders}


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
    progress: Progress | None = None,
    processes: int = 1,
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
    Returns:
        A PairedResult: per model the median latency, and against the first model the median
        per-round ratio with its 95% interval and sign-test p-value.
    """
    _check(models, warmup, rounds, batch, processes)
    check_threads(threads)
    if processes > 1:
        from cspcost.profiling.processes import paired_processes

        return paired_processes(dict(
            models=list(models), input_size=input_size, batch=batch, device=device, threads=threads,
            dtype=str(dtype).removeprefix("torch."), channels_last=channels_last, warmup=warmup,
            rounds=rounds, seed=seed, shuffle=shuffle), processes)
    dev = resolve_device(device)
    torch_dtype = parse_dtype(dtype, dev)
    loaded = [load_model(m, input_size, dev, torch_dtype, channels_last) for m in models]
    for _, _, sizes in loaded:
        for size in sizes:
            check_shape(size, batch)  # the batched input too, before anything is allocated
    timer = timer or default_timer(dev, clock)
    with thread_count(threads) as n_threads, device_context(dev), ExitStack() as stack:
        for given in models:
            stack.enter_context(kept(given))  # the user's modules come back as they were
        for _, model, _ in loaded:
            stack.enter_context(eval_mode(model))
        stack.enter_context(torch.inference_mode())
        forwards = _forwards(loaded, batch, dev, torch_dtype, channels_last)
        orders = _orders(len(forwards), rounds, seed, shuffle)
        with load_meter(n_threads) as load, gc_paused():
            _run_rounds(forwards, [list(range(len(forwards)))] * warmup, timer, progress, "warmup")
            seconds = _run_rounds(forwards, orders, timer, progress, "rounds")
    env = {**stamp(dev, n_threads, torch_dtype), "batch": batch, "channels_last": channels_last, **load}
    shapes = [shape for _, shape in forwards]
    return build_result([n for n, _, _ in loaded], shapes, [seconds], orders, warmup, env)


def _check(models: Sequence[Any], warmup: int, rounds: int, batch: int, processes: int) -> None:
    """Reject a measurement that cannot give an interval."""
    if len(models) < 2:
        raise UsageError("a paired comparison needs at least two models")
    for label, value, least in (("warmup", warmup, 1), ("rounds", rounds, MIN_SAMPLES), ("batch", batch, 1),
                                ("processes", processes, 1)):
        if not isinstance(value, int) or value < least:
            raise UsageError(f"{label} must be an integer of at least {least}, got {value!r}")


def _forwards(loaded: list[tuple[str, nn.Module, list[tuple[int, ...]]]], batch: int, dev: torch.device,
              dtype: torch.dtype, channels_last: bool) -> list[tuple[Callable[[], object], tuple[int, ...]]]:
    """Each model's forward on inputs made once (after one checking forward), and its input shape."""
    forwards = []
    for _, model, sizes in loaded:
        inputs = first_forward(model, sizes, batch, dev, dtype, channels_last)
        forwards.append((lambda m=model, x=inputs: m(*x), tuple(inputs[0].shape)))
    return forwards


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


def _run_rounds(forwards: list[tuple[Callable[[], object], tuple[int, ...]]], orders: list[list[int]],
                timer: Timer, progress: Progress | None, phase: str) -> list[list[float]]:
    """Run every model once per round in the round's order: seconds[model][round]."""
    seconds: list[list[float]] = [[0.0] * len(orders) for _ in forwards]
    for r, order in enumerate(orders):
        for i in order:
            seconds[i][r] = timer(forwards[i][0])
        if progress:
            progress(phase, r + 1, len(orders))
    return seconds


def build_result(names: list[str], shapes: list[tuple[int, ...]], runs: list[list[list[float]]],
                 orders: list[list[int]], warmup: int, env: dict[str, Any], processes: int = 1) -> PairedResult:
    """Statistics, per-round ratios and their intervals, and warnings, from raw seconds.

    Args:
        runs: per run (process), per model, the seconds of each round in time order.
    """
    models = []
    for i, (name, shape) in enumerate(zip(names, shapes)):
        own = [t for run in runs for t in run[i]]
        by_run = [[t / t0 for t, t0 in zip(run[i], run[0])] for run in runs]
        stats = summarize(own)
        samples_ms = [t * 1e3 for t in own]
        model_warnings = warnings(samples_ms, stats.cv, {})  # spread and drift; the machine below
        models.append(PairedModel(name, shape, samples_ms, stats, by_run, paired_interval(by_run),
                                  sign_test_p([x for run in by_run for x in run]), model_warnings))
    return PairedResult(models, len(orders), warmup, orders, env, warnings([], 0.0, env), processes)
