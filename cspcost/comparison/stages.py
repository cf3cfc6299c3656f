"""Stages by output stride: how models with differently named modules line up (no torch).

A layer's stride is the input height over its output height. A stage is a run of consecutive layers
at one stride, named by it (``/8``) and, when a stride comes back (a detector's neck going up the
pyramid again), by its occurrence (``/16 #2``). Layers without a spatial map (a 1x1 squeeze-excite
gate, the classifier) stay in the stage they run in; those after the last spatial layer are the
``head``. Two models are aligned stage by stage, in order, whatever their modules are called.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import pandas as pd

from cspcost.walk.records import METRICS

HEAD = "head"


def _stride(shape: Sequence[int], input_shape: Sequence[int]) -> int | None:
    """Input side over a 4-d output's side, the same both ways; None for a one-pixel map or no map
    (a (N, C, 4, 8400) box tensor is no map)."""
    if len(shape) < 4 or len(input_shape) < 4 or shape[2] * shape[3] <= 1 or 0 in shape[2:4]:
        return None
    sy, sx = input_shape[2] / shape[2], input_shape[3] / shape[3]
    return max(1, round(sy)) if abs(sy - sx) <= 0.5 * max(sy, sx) * 0.5 else None


def stage_labels(layers: pd.DataFrame, input_shape: Sequence[int],
                 first_shapes: dict[str, tuple[int, ...]] | None = None) -> list[str]:
    """The stage of each layer row, in row (execution) order.

    Args:
        first_shapes: layer name -> the output of its first op; a layer is staged where it first
            runs (a module reused all over the network, such as a shared activation, would
            otherwise be staged where it last ran).
    """
    shapes = [(first_shapes or {}).get(name, shape) for name, shape in zip(layers["name"], layers["out_shape"])]
    strides = [_stride(tuple(s), input_shape) for s in shapes]
    last_spatial = max((i for i, s in enumerate(strides) if s is not None), default=-1)
    labels, seen, current, previous = [], Counter(), "/1", None
    for i, stride in enumerate(strides):
        if stride is not None and stride != previous:
            seen[stride] += 1
            current, previous = f"/{stride}" + (f" #{seen[stride]}" if seen[stride] > 1 else ""), stride
        labels.append(HEAD if i > last_spatial else current)
    return labels


def merged_order(orders: Sequence[Sequence[str]]) -> list[str]:
    """One stage order for several models: the first model's, others' extra stages after their predecessor."""
    merged: list[str] = []
    for order in orders:
        for k, label in enumerate(dict.fromkeys(order)):
            if label in merged:
                continue
            before = [x for x in list(dict.fromkeys(order))[:k] if x in merged]
            merged.insert(merged.index(before[-1]) + 1 if before else 0, label)
    return merged


def stage_table(models: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per stage and model: layers, FLOPs, params, CIO, and each metric's change vs the first model (%).

    Args:
        models: label -> layer frame with a ``stage`` column.
    """
    order = merged_order([list(frame["stage"]) for frame in models.values()])
    sums = {m: frame.groupby("stage", sort=False)[list(METRICS)].sum() for m, frame in models.items()}
    counts = {m: frame[frame["ops"] > 0].groupby("stage", sort=False).size() for m, frame in models.items()}
    first = next(iter(models))
    rows = []
    for stage in order:
        row: dict[str, object] = {"stage": stage}
        for m in models:
            row[f"{m} layers"] = int(counts[m].get(stage, 0))
            for key in METRICS:
                row[f"{m} {key}"] = int(sums[m][key].get(stage, 0))
        for m in list(models)[1:]:
            for key in METRICS:
                base = row[f"{first} {key}"]
                row[f"{m} {key}_delta_pct"] = 100.0 * (row[f"{m} {key}"] / base - 1) if base else None
        rows.append(row)
    return pd.DataFrame(rows)


def first_shapes(ops: Sequence[dict]) -> dict[str, tuple[int, ...]]:
    """Layer name -> the output shape of its first op (the op that places its row in the table)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for op in ops:
        shapes.setdefault(op["module"], tuple(op["out_shape"]))
    return shapes
