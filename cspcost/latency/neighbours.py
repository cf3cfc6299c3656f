"""Shape-local corrections: the calibration's own residuals, applied to nearby shapes.

A class's linear fit (``fit.fit_relative``) is smooth in the shape, but kernels are not: a library
switches algorithm at some width, stride or channel count and a shape runs several times slower
than its neighbours (oneDNN's depthwise conv at 112x112, stride 1, here). Each calibration point
keeps its residual ``log(measured / fitted)``; an op is corrected by the distance-weighted mean
residual of its ``K`` nearest points of the same category (stride, op name) in the class's shape
space (log2 sizes), shrunk to nothing as the nearest point gets ``RADIUS`` away.
"""
from __future__ import annotations

from math import exp, sqrt
from typing import Sequence

K, RADIUS = 3, 1.5  # neighbours used; log2 distance at which a correction fades out


def correction(residuals: Sequence[Sequence[object]], category: str, key: Sequence[float]) -> float:
    """The multiplicative correction for an op at ``key`` (1.0 without neighbours).

    Args:
        residuals: ``[category, key, log_ratio]`` triples from the calibration.
        category, key: the op's category and shape key (``opclass.Work``).
    Returns:
        exp(weighted mean log-ratio of the nearest points x shrinkage).
    """
    near = sorted((_distance(key, point[1]), float(point[2]))  # type: ignore[arg-type]
                  for point in residuals if point[0] == category and len(point[1]) == len(key))[:K]  # type: ignore[arg-type]
    if not near or near[0][0] >= RADIUS:
        return 1.0
    weights = [1.0 / (d + 0.25) for d, _ in near]
    mean = sum(w * r for w, (_, r) in zip(weights, near)) / sum(weights)
    return exp(mean * (1.0 - near[0][0] / RADIUS))


def _distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance of two keys."""
    return sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
