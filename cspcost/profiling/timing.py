"""Timing: an injectable clock, repeat and time-budget loops, and pure statistics on samples.

Statistics are pure functions of a list of samples (seconds), so a test can check them on known
numbers and inject a fake clock into the loops. Percentiles interpolate linearly between closest
ranks (numpy's default, "type 7"): the q-th percentile of sorted ``x[0..n-1]`` sits at position
``q/100 * (n-1)``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import pandas as pd

Clock = Callable[[], float]  # seconds, monotonic (time.perf_counter by default)
Progress = Callable[[str, int, "int | None"], None]  # (phase, done, total or None if unknown)

# A time-budget block is grown until it lasts at least this long, so that the clock's own
# resolution and call overhead stay below 0.1% of a sample (as torch.utils.benchmark does).
BLOCK_S = 0.01
MIN_RUNS = 5  # a time budget never yields fewer samples than this


@dataclass(frozen=True)
class Stats:
    """Summary of timing samples, in milliseconds."""

    runs: int  # number of samples
    median_ms: float
    p10_ms: float
    p90_ms: float
    q1_ms: float  # 25th percentile
    q3_ms: float  # 75th percentile
    iqr_ms: float  # q3 - q1
    mean_ms: float
    min_ms: float
    max_ms: float
    std_ms: float = math.nan  # sample standard deviation (n - 1); NaN for one sample

    @property
    def cv(self) -> float:
        """Coefficient of variation: the samples' standard deviation over their mean."""
        return self.std_ms / self.mean_ms if self.mean_ms else math.nan

    def to_dict(self) -> dict[str, float | int]:
        """A JSON-ready dict with the same keys as the fields, plus ``cv``."""
        return {**asdict(self), "cv": self.cv}


def summarize(samples_s: Sequence[float]) -> Stats:
    """Median, p10, p90, quartiles, IQR, mean, min, max and standard deviation of samples in seconds.

    Args:
        samples_s: one duration per run, in seconds (at least one).
    Returns:
        The statistics in milliseconds, percentiles linearly interpolated (numpy's default).
    """
    if not samples_s:
        raise ValueError("no samples to summarize")
    ms = np.asarray(samples_s, dtype=float) * 1e3
    p10, q1, median, q3, p90 = np.percentile(ms, [10, 25, 50, 75, 90])
    std = float(ms.std(ddof=1)) if len(ms) > 1 else math.nan
    return Stats(len(ms), float(median), float(p10), float(p90), float(q1), float(q3),
                 float(q3 - q1), float(ms.mean()), float(ms.min()), float(ms.max()), std)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's r of the ranks, ties given their average rank.

    Args:
        a: first variable.
        b: second variable, same length.
    Returns:
        rho in [-1, 1]; NaN with fewer than two pairs or when either variable is constant.
    """
    ra = pd.Series(a, dtype=float).rank(method="average").to_numpy()
    rb = pd.Series(b, dtype=float).rank(method="average").to_numpy()
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


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
               clock: Clock = time.perf_counter, progress: Progress | None = None,
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
                clock: Clock = time.perf_counter, progress: Progress | None = None,
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
