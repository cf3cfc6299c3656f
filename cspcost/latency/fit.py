"""Fitting and scoring, pure numpy: non-negative least squares in relative error, R^2, ranks.

A class's time is ``t = X @ c`` with every ``c_j >= 0`` (a cost per unit of work cannot be
negative). Minimising the *relative* error (rows weighted by ``1/t``) gives small and large ops
the same say, which is what a whole-model sum of many small ops needs.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def nnls(a: np.ndarray, b: np.ndarray, max_iter: int = 500) -> np.ndarray:
    """min ||a x - b|| subject to x >= 0 (Lawson and Hanson's active-set method, 1974, ch. 23).

    Args:
        a: (m, n) matrix; b: (m,) vector.
    Returns:
        x: (n,) non-negative solution.
    """
    m, n = a.shape
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    grad = a.T @ (b - a @ x)
    tol = 10 * np.finfo(float).eps * max(1.0, float(np.abs(a).max(initial=0.0))) * max(m, n)
    for _ in range(max_iter):
        if passive.all() or grad[~passive].max(initial=-np.inf) <= tol:
            break
        j = int(np.argmax(np.where(passive, -np.inf, grad)))
        passive[j] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > tol).all():
                x = z
                break
            neg = passive & (z <= tol)
            alpha = np.min(x[neg] / (x[neg] - z[neg] + 1e-300))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
        grad = a.T @ (b - a @ x)
    return x


WEIGHT_FLOOR_S = 1e-6  # the shortest time whose relative error counts in full


def fit_relative(features: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Non-negative coefficients minimising the relative error of ``features @ c`` against ``times``.

    Columns are scaled to unit maximum first (features span many orders of magnitude: 1 and
    1e10 flops in one matrix), and the coefficients scaled back.

    Args:
        features: (m, n) feature rows; times: (m,) positive times.
    Returns:
        (n,) coefficients, each >= 0 (0 for an all-zero column).
    """
    # Times under a microsecond weigh as a microsecond: OpenVINO's node counters tick in whole
    # microseconds, and weights of 1e7 on 0.1-us samples left the solver at all zeros.
    weights = 1.0 / np.maximum(times, WEIGHT_FLOOR_S)
    scale = np.abs(features).max(axis=0)
    scale[scale == 0] = 1.0
    a = features / scale * weights[:, None]
    return nnls(a, times * weights) / scale


def fit_line(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Ordinary least squares ``y = a x + b``: (a, b)."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    a, b = np.polyfit(xs, ys, 1)
    return float(a), float(b)


def leave_one_out_line(x: Sequence[float], y: Sequence[float]) -> list[float]:
    """Each point predicted by the line fitted on all the others (the FLOPs-only baseline)."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    out = []
    for i in range(len(xs)):
        keep = np.arange(len(xs)) != i
        a, b = fit_line(xs[keep], ys[keep])
        out.append(a * xs[i] + b)
    return out


def r_squared(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """1 - SS_res / SS_tot of ``measured`` against ``predicted`` (nan with fewer than 2 points)."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    if len(m) < 2:
        return float("nan")
    total = float(((m - m.mean()) ** 2).sum())
    return float("nan") if total == 0 else 1.0 - float(((m - p) ** 2).sum()) / total


def flops_r_squared(flops: Sequence[float], measured: Sequence[float]) -> float:
    """How much of the variance of ``measured`` a line in FLOPs explains (R^2 of ``t = a f + b``)."""
    if len(measured) < 3:
        return float("nan")
    a, b = fit_line(flops, measured)
    return r_squared([a * f + b for f in flops], measured)


def ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks from 1, ties given their average rank."""
    v = np.asarray(values, float)
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(1, len(v) + 1)
    for value in np.unique(v):
        tied = v == value
        r[tied] = r[tied].mean()
    return r


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson on average ranks; nan if either side is constant)."""
    if len(a) < 2:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def abs_errors(predicted: Sequence[float], measured: Sequence[float]) -> np.ndarray:
    """|predicted - measured| / measured, per point."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    return np.abs(p - m) / m
