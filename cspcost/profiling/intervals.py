"""A distribution-free 95% interval for a median, and the sign test behind it (pure, no torch).

The interval of paired comparisons: for n per-round ratios sorted as r(1) <= ... <= r(n), the
median of the population they come from lies in [r(k), r(n+1-k)] with probability at least
1 - 2 P(B <= k - 1), B ~ Binomial(n, 1/2), whatever the ratios' distribution (the order-statistics
interval of the median; e.g. Conover, *Practical Nonparametric Statistics*, 3rd ed., sec. 3.2).
k is the largest index whose coverage is still at least 95%. It needs only that the rounds are
independent and alike, not normal; it is exact, not a resampling estimate, so the same samples give
the same interval on every run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

LEVEL = 0.95
MIN_SAMPLES = 6  # the fewest samples whose [min, max] already covers the median with >= 95%
BLOCKS = 6  # consecutive blocks per run for the drift-aware interval (6: the fewest with 95%)


@dataclass(frozen=True)
class MedianInterval:
    """The median of some samples and its distribution-free interval."""

    median: float
    low: float
    high: float
    coverage: float  # the interval's exact coverage (>= LEVEL)
    rank: int  # k: the interval is [x(k), x(n+1-k)], 1-based order statistics

    def excludes(self, value: float) -> bool:
        """Whether ``value`` lies outside the interval (a difference significant at 1 - LEVEL)."""
        return value < self.low or value > self.high


def binomial_cdf(k: int, n: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2), exactly (as a float)."""
    if k < 0:
        return 0.0
    return sum(math.comb(n, i) for i in range(min(k, n) + 1)) / 2**n


def interval_rank(n: int, level: float = LEVEL) -> int:
    """The largest k with 1 - 2 P(B <= k - 1) >= ``level`` (0 if even [min, max] is too short)."""
    k = 0
    while k + 1 <= (n + 1) // 2 and 1 - 2 * binomial_cdf(k, n) >= level:
        k += 1
    return k


def median_interval(samples: Sequence[float], level: float = LEVEL) -> MedianInterval:
    """The median of ``samples`` and its order-statistics interval at ``level``.

    Args:
        samples: at least ``MIN_SAMPLES`` values (fewer cannot give a 95% interval).
        level: the wanted coverage.
    Returns:
        The median (numpy's: the mean of the two middle values for even n), the interval's ends,
        its exact coverage and k.
    """
    xs = sorted(float(x) for x in samples)
    n = len(xs)
    k = interval_rank(n, level)
    if k == 0:
        raise ValueError(f"{n} samples cannot give a {level:.0%} interval; need at least {MIN_SAMPLES}")
    mid = (xs[(n - 1) // 2] + xs[n // 2]) / 2
    return MedianInterval(mid, xs[k - 1], xs[n - k], 1 - 2 * binomial_cdf(k - 1, n), k)


def sign_test_p(samples: Sequence[float], value: float = 1.0) -> float:
    """Two-sided sign-test p-value of "the median is ``value``" (ties with ``value`` dropped)."""
    above = sum(1 for x in samples if x > value)
    below = sum(1 for x in samples if x < value)
    n = above + below
    if n == 0:
        return 1.0
    return min(1.0, 2 * binomial_cdf(min(above, below), n))


def paired_interval(runs: Sequence[Sequence[float]], level: float = LEVEL) -> MedianInterval:
    """The median of per-round ratios over one or more runs, with a drift-aware 95% interval.

    The interval is the hull of two order-statistics intervals: (a) of the median of all
    per-round ratios, which assumes the rounds are independent, and (b) of the median of block
    medians, each run cut into ``BLOCKS`` consecutive blocks of rounds, which assumes only that
    the blocks are. When the ratio itself drifts with the machine's state (a memory-bound model
    slows more than a compute-bound one when the host's bandwidth drops), the rounds of one block
    are alike and (a) is too narrow; (b) then widens the interval by the drift seen. With several
    runs (fresh processes), the blocks of every run are pooled, so differences between processes
    widen it too. The hull contains both intervals, so under either assumption it covers the
    median at least as often as that interval does; the coverage reported is the smaller of the
    two nominal coverages (each at least ``level``).

    Args:
        runs: per run, the per-round ratios in time order (each run at least ``BLOCKS`` rounds).
    Returns:
        The median of all ratios, the hull interval, and the coverage and rank of (a).
    """
    ratios = [float(x) for run in runs for x in run]
    rounds = median_interval(ratios, level)
    blocks = [float(np.median(block)) for run in runs for block in np.array_split(np.asarray(run), BLOCKS)]
    by_block = median_interval(blocks, level)
    return MedianInterval(rounds.median, min(rounds.low, by_block.low), max(rounds.high, by_block.high),
                          min(rounds.coverage, by_block.coverage), rounds.rank)
