"""Timing: an injectable clock, timers (host clock, CUDA events), repeat and time-budget loops.

The statistics of the samples are pure functions in ``stats`` (re-exported here), so a test can
check them on known numbers and inject a fake clock into the loops.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from cspcost.profiling.stats import Stats, spearman, sample_stats  # noqa: F401 - re-exported

Clock = Callable[[], float]  # seconds, monotonic (time.perf_counter by default)
PhaseProgress = Callable[[str, int, "int | None"], None]  # (phase, done, total or None if unknown)

# A time-budget block is grown until it lasts at least this long, so that the clock's own
# resolution and call overhead stay below 0.1% of a sample (as torch.utils.benchmark does).
BLOCK_S = 0.01
MIN_RUNS = 5  # a time budget never yields fewer samples than this


def _noop() -> None:
    """No synchronisation (CPU work is done when the call returns)."""


class Timer(Protocol):
    """Times one call of a function, in seconds (host clock or device events)."""

    def __call__(self, fn: Callable[[], object]) -> float:
        """Run ``fn`` once and return how long it took."""


@dataclass(frozen=True)
class HostTimer:
    """A host clock read on a quiet device: ``sync(); t0 = clock(); fn(); sync(); clock() - t0``."""

    clock: Clock = time.perf_counter
    sync: Callable[[], None] = _noop

    def __call__(self, fn: Callable[[], object]) -> float:
        """Run ``fn`` between two synchronised clock readings."""
        self.sync()
        start = self.clock()
        fn()
        self.sync()
        return self.clock() - start


@dataclass(frozen=True)
class EventTimer:
    """GPU time by CUDA events, as PyTorch's CUDA semantics notes recommend for asynchronous work.

    ``start.record(); fn(); end.record(); end.synchronize(); start.elapsed_time(end)`` (ms): the
    events are queued on the current stream around the kernels, so the time is the device's, not
    the launch loop's; ``end.synchronize()`` waits for the end event only. ``events`` builds one
    event (``torch.cuda.Event`` by default; injectable so that tests run without a GPU).
    """

    events: Callable[..., Any] | None = None

    def __call__(self, fn: Callable[[], object]) -> float:
        """Run ``fn`` between two recorded events and return their distance in seconds."""
        make = self.events or _cuda_event
        start, end = make(enable_timing=True), make(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3


def _cuda_event(**kwargs: Any) -> Any:
    """A ``torch.cuda.Event`` (torch imported only when CUDA timing is asked for)."""
    import torch

    return torch.cuda.Event(**kwargs)


def time_calls(fn: Callable[[], object], repeat: int, *, sync: Callable[[], None] = _noop,
               clock: Clock = time.perf_counter, progress: PhaseProgress | None = None,
               phase: str = "timing", timer: Timer | None = None) -> list[float]:
    """Time ``repeat`` calls of ``fn`` one by one, synchronising before each clock reading.

    Args:
        fn: the work (e.g. one forward pass).
        repeat: number of timed calls.
        sync: waits for queued device work (``torch.cuda.synchronize`` on CUDA).
        clock: seconds; injectable for tests.
        progress: called after each call with (phase, done, repeat).
        phase: the label passed to ``progress``.
        timer: times one call instead of ``sync`` and ``clock`` (e.g. an ``EventTimer``).
    Returns:
        One duration per call, in seconds.
    """
    measure = timer or HostTimer(clock, sync)
    samples = []
    for i in range(repeat):
        samples.append(measure(fn))
        if progress:
            progress(phase, i + 1, repeat)
    return samples


def time_budget(fn: Callable[[], object], min_time_s: float, *, sync: Callable[[], None] = _noop,
                clock: Clock = time.perf_counter, progress: PhaseProgress | None = None,
                timer: Timer | None = None) -> tuple[list[float], int]:
    """Time ``fn`` in blocks until ``min_time_s`` is spent, like ``blocked_autorange``.

    A block runs ``fn`` ``number`` times, ``number`` chosen so that a block lasts at least
    ``BLOCK_S``; each sample is a block's time divided by ``number``. At least ``MIN_RUNS`` blocks.

    Args:
        fn: the work (e.g. one forward pass).
        min_time_s: the time budget, in seconds.
        sync: waits for queued device work.
        clock: seconds; injectable for tests.
        progress: called after each block with ("timing", blocks done, None).
        timer: times one block instead of ``sync`` and ``clock``.
    Returns:
        (per-call durations in seconds, one per block; calls per block).
    """
    measure = timer or HostTimer(clock, sync)
    number = _calibrate(fn, measure)
    samples: list[float] = []
    spent = 0.0
    while spent < min_time_s or len(samples) < MIN_RUNS:
        block = measure(lambda: _repeat(fn, number))
        spent += block
        samples.append(block / number)
        if progress:
            progress("timing", len(samples), None)
    return samples, number


def _repeat(fn: Callable[[], object], number: int) -> None:
    """Call ``fn`` ``number`` times."""
    for _ in range(number):
        fn()


def _calibrate(fn: Callable[[], object], measure: Timer) -> int:
    """The number of calls per block that makes a block last at least ``BLOCK_S``."""
    number = 1
    while True:
        block = measure(lambda: _repeat(fn, number))
        if block >= BLOCK_S or number >= 1 << 20:
            return number
        # Grow towards the target in one step when the estimate is usable, else by 10x.
        number = max(number * 2, math.ceil(number * BLOCK_S / block)) if block > 0 else number * 10
