"""Statistics of timing samples, pure: a list of seconds in, numbers out (no clocks, no torch).

Percentiles interpolate linearly between closest ranks (numpy's default, "type 7"): the q-th
percentile of sorted ``x[0..n-1]`` sits at position ``q/100 * (n-1)``. The paired ratios' interval
and sign test are in ``intervals``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import pandas as pd


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


def sample_stats(samples_s: Sequence[float]) -> Stats:
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
