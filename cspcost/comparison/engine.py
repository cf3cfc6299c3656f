"""``cspcost compare``'s engine: analyse models side by side, draw the paper's charts, write a summary."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd
import torch

from cspcost.comparison.deltas import label, summarize, table
from cspcost.comparison.stages import first_shapes, stage_labels, stage_table
from cspcost.walk.analysis import AnalysisResult, analyze

Latency = Callable[[str, tuple[int, ...] | None], tuple[float, pd.DataFrame | None]]


@dataclass
class Comparison:
    """Analyses of several models, their summary table (deltas vs the first) and measured layers."""

    results: list[AnalysisResult]
    table: pd.DataFrame
    timed_layers: dict[str, pd.DataFrame] = field(default_factory=dict)  # label -> layers with latency_ms
    stages: pd.DataFrame | None = None  # per stage (by output stride and order): each model's costs, deltas

    @property
    def labels(self) -> list[str]:
        """Legend labels, 'model @HxW'."""
        return [label(r) for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the table rows and each model's totals and convention."""
        data = {
            "models": self.table.to_dict(orient="records"),
            "convention": self.results[0].convention.label(),
            "totals": {label(r): r.totals for r in self.results},
        }
        if self.stages is not None:
            data["stages"] = self.stages.to_dict(orient="records")
        if all(r.csp_blocks is not None for r in self.results):
            data["csp_blocks"] = {label(r): r.csp_blocks for r in self.results}
        return data

    def csp_views(self) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, str]], list[str]]:
        """Each model's CSP blocks, each block's stage (that of its concat's layer), the stage order."""
        staged_layers = self.staged_layers()
        stages = {m: dict(zip(frame["name"], frame["stage"])) for m, frame in staged_layers.items()}
        blocks = {label(r): r.csp_blocks or [] for r in self.results}
        order = list(self.stages["stage"]) if self.stages is not None else []
        return blocks, stages, order

    def staged_layers(self) -> dict[str, pd.DataFrame]:
        """Each model's layers with their ``stage`` (by output stride and order)."""
        return {label(r): staged(r) for r in self.results}


def compare(
    models: Sequence[str | torch.nn.Module], input_size: Sequence[int] | None = None, batch: int = 1, *,
    convention: str = "pytorch", cio: str | None = None, fuse_bn: bool = False, device: str = "meta",
    latency: Latency | None = None, csp: bool = False,
) -> Comparison:
    """Analyse each model (each at its own default input unless ``input_size``) and tabulate.

    Args:
        models: zoo names, ``file.py:factory`` specs or modules; the first is the reference.
        latency: optional measurer ``(model, input_size) -> (median ms, per-layer frame)``.
        csp: also find each model's cross-stage partial blocks (``results[i].csp_blocks``).
    Returns:
        A Comparison whose ``table`` has one row per model and ``*_delta_pct`` columns.
    """
    results = [analyze(m, input_size, batch, device=device, convention=convention, cio=cio, fuse_bn=fuse_bn)
               for m in models]
    if csp:
        from cspcost.structure import find_csp

        results = [find_csp(r) for r in results]
    latencies: list[float | None] = [None] * len(results)
    timed = {}
    if latency is not None:
        for i, (model, result) in enumerate(zip(models, results)):
            latencies[i], per_layer = latency(model, input_size)
            if per_layer is not None:
                timed[label(result)] = per_layer
    return tabulate(results, latencies, timed)


def tabulate(results: Sequence[AnalysisResult], latencies: Sequence[float | None] | None = None,
             timed: dict[str, pd.DataFrame] | None = None) -> Comparison:
    """A Comparison of analyses already made (the first is the reference)."""
    latencies = latencies or [None] * len(results)
    results = _distinct(results)
    rows = [summarize(result, ms) for result, ms in zip(results, latencies)]
    stages = stage_table({label(r): staged(r) for r in results})
    return Comparison(list(results), table(rows), timed or {}, stages)


def _distinct(results: Sequence[AnalysisResult]) -> list[AnalysisResult]:
    """Results whose labels collide (two modules of one class) renamed ``Name #2``, ``Name #3``."""
    from dataclasses import replace

    seen: dict[str, int] = {}
    out = []
    for result in results:
        seen[label(result)] = seen.get(label(result), 0) + 1
        count = seen[label(result)]
        out.append(result if count == 1 else replace(result, model=f"{result.model} #{count}"))
    return out


def staged(result: AnalysisResult) -> pd.DataFrame:
    """A result's layers with a ``stage`` column (output stride and order)."""
    return result.layers.assign(stage=stage_labels(result.layers, result.input_shape[0], first_shapes(result.ops)))


def latency_for_compare(model: str | torch.nn.Module, input_size: Sequence[int] | None,
                        per_layer: bool) -> tuple[float, pd.DataFrame | None]:
    """Median CPU latency (ms) and, if asked, per-layer times (``latency_ms``, ``flops`` columns)."""
    from cspcost.profiling.run import profile

    result = profile(model, input_size, device="cpu", warmup=3, repeat=15, per_layer=per_layer, peaks=False)
    layers = None
    if per_layer and result.layers is not None:
        layers = result.layers.rename(columns={"measured_ms": "latency_ms"})
    return result.latency.median_ms, layers
