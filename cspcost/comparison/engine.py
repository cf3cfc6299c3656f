"""``cspcost compare``'s engine: analyse models side by side, draw the paper's charts, write a summary."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd
import torch

from cspcost.comparison.deltas import label, summary_row, table
from cspcost.comparison.stages import first_shapes, stage_labels, stage_table
from cspcost.errors import UsageError
from cspcost.walk.analysis import AnalysisResult, analyze

LATENCY_KEYS = ["latency_ratio", "latency_ratio_ci95", "latency_significant", "latency_p_value", "latency_cv"]


@dataclass
class LatencyReport:
    """Measured latency of the compared models: one row of fields per model, optional layers."""

    rows: list[dict[str, Any]]  # latency_ms, latency_ratio, latency_ratio_ci95, ... per model
    details: dict[str, Any]  # how it was measured: method, rounds, environment, warnings
    layers: list[pd.DataFrame | None] = field(default_factory=list)  # per-layer times, if asked


Latency = Callable[[Sequence[Any], Sequence[int] | None], LatencyReport]


@dataclass
class Comparison:
    """Analyses of several models, their summary table (deltas vs the first) and measured layers."""

    results: list[AnalysisResult]
    table: pd.DataFrame
    timed_layers: dict[str, pd.DataFrame] = field(default_factory=dict)  # label -> layers with latency_ms
    latency: dict[str, Any] | None = None  # how latency was measured (LatencyReport.details)
    stages: pd.DataFrame | None = None  # per stage (by output stride and order): each model's costs, deltas

    @property
    def labels(self) -> list[str]:
        """Legend labels, 'model @HxW'."""
        return [label(r) for r in self.results]

    def to_json(self, indent: int | None = 2) -> str:
        """The comparison as JSON (what ``--format json`` prints)."""
        from cspcost.jsondump import dumps

        return dumps(self.to_dict(), indent)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the table rows and each model's totals and convention."""
        data = {
            "models": self.table.to_dict(orient="records"),
            "convention": self.results[0].convention.label(),
            "totals": {label(r): r.totals for r in self.results},
            "latency": self.latency,
        }
        if self.latency is not None:
            data["runtime"] = self.latency.get("runtime", "eager")
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
    latency: Latency | None = None, profile: bool = False, csp: bool = False, runtime: str = "eager",
) -> Comparison:
    """Analyse each model (each at its own default input unless ``input_size``) and tabulate.

    Args:
        models: zoo names, ``file.py:factory`` specs or modules; the first is the reference.
        latency: optional measurer ``(models, input_size) -> LatencyReport`` (e.g.
            ``paired_latency``: all models interleaved in one process).
        profile: measure CPU latency with ``paired_latency``'s defaults (when no ``latency``).
        runtime: with ``profile``, the runtime the models run under ("eager", "compile", "onnxruntime",
            "openvino").
        csp: also find each model's cross-stage partial blocks (``results[i].csp_blocks``).
    Raises:
        UsageError: fewer than two models, or any error ``analyze`` raises.
    Returns:
        A Comparison whose ``table`` has one row per model and ``*_delta_pct`` columns (with
        latency: ``latency_ms``, ``latency_ratio``, ``latency_ratio_ci95`` and more).
    """
    models = _two_or_more(models)
    results = [analyze(m, input_size, batch, device=device, convention=convention, cio=cio, fuse_bn=fuse_bn)
               for m in models]
    if csp:
        from cspcost.structure import find_csp

        results = [find_csp(r) for r in results]
    if profile and latency is None:
        latency = lambda ms, size: paired_latency(ms, size, batch=batch, runtime=runtime)  # noqa: E731
    return tabulate(results, latency(models, input_size) if latency is not None else None)


def _two_or_more(models: Any) -> list[Any]:
    """The models as a list, or a one-line UsageError unless there are at least two."""
    if isinstance(models, (str, torch.nn.Module)) or not isinstance(models, Sequence):
        raise UsageError(f"compare takes a list of two or more models, got {type(models).__name__} "
                         "(e.g. compare(['resnet10', 'cspresnet10']))")
    if len(models) < 2:
        raise UsageError(f"compare needs at least two models, got {len(models)}")
    return list(models)


def tabulate(results: Sequence[AnalysisResult], latency: LatencyReport | None = None) -> Comparison:
    """A Comparison of analyses already made (the first is the reference), with measured latency."""
    results = _distinct(results)
    stages = stage_table({label(r): staged(r) for r in results})
    if latency is None:
        return Comparison(list(results), table([summary_row(r) for r in results]), stages=stages)
    rows = [{**summary_row(r, extra["latency_ms"]), **{k: extra.get(k) for k in LATENCY_KEYS}}
            for r, extra in zip(results, latency.rows)]
    timed = {label(r): frame for r, frame in zip(results, latency.layers) if frame is not None}
    return Comparison(list(results), table(rows), timed, latency.details, stages)


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

def paired_latency(models: Sequence[Any], input_size: Sequence[int] | None, *, batch: int = 1,
                   device: str = "cpu", rounds: int = 12, warmup: int = 3, processes: int = 3,
                   per_layer: bool = False, progress: Any = None, runtime: str = "eager",
                   ort_level: str = "all") -> LatencyReport:
    """Latency of all models interleaved in one process (``profiling.paired``), ratios vs the first.

    Args:
        models: as given to ``compare`` (the first is the reference).
        device: "cpu" or "cuda" (timed by CUDA events there).
        rounds: timed rounds (each model once per round, order shuffled with a fixed seed).
        processes: run in this many fresh processes and merge: the interval then spans three
            stretches of the machine's state, which one process of a few seconds cannot see
            (modules cannot be sent to a process: then one process of ``max(rounds, 30)`` rounds).
        per_layer: also time each model's layers (its own instrumented runs, after the pairing).
        runtime: the runtime every model runs under ("eager", "compile", "onnxruntime", "openvino").
        ort_level: ONNX Runtime's graph optimisation level (``profiling.spec.ORT_LEVELS``).
    Returns:
        Per model latency_ms, latency_ratio, latency_ratio_ci95 [low, high], latency_significant,
        latency_p_value, latency_cv; the measurement's method, environment and warnings.
    """
    from cspcost.profiling.paired import paired

    if processes > 1 and not all(isinstance(m, str) for m in models):
        processes, rounds = 1, max(rounds, 30)
    result = paired(models, input_size, batch, device=device, rounds=rounds, warmup=warmup,
                    processes=processes, progress=progress, runtime=runtime, ort_level=ort_level)
    details = {k: v for k, v in result.to_dict().items() if k != "models"}
    details["model_warnings"] = {m.name: m.warnings for m in result.models if m.warnings}
    layers = [_layers(m, input_size, batch, device, runtime, ort_level) for m in models] if per_layer else []
    return LatencyReport([m.row() for m in result.models], details, layers)


def _layers(model: Any, input_size: Sequence[int] | None, batch: int, device: str,
            runtime: str = "eager", ort_level: str = "all") -> pd.DataFrame | None:
    """One model's per-layer times (``latency_ms``, ``flops`` columns) for the time-vs-FLOPs chart."""
    from cspcost.profiling.run import profile
    from cspcost.profiling.runtimes import RUNTIMES

    if not RUNTIMES[runtime].per_layer:
        return None  # torch.compile cannot say; the chart is drawn for the runtimes that can
    result = profile(model, input_size, batch, device=device, warmup=3, repeat=15, per_layer=True, peaks=False,
                     runtime=runtime, ort_level=ort_level)
    return result.layers


def latency_for_compare(model: str | torch.nn.Module, input_size: Sequence[int] | None,
                        per_layer: bool) -> tuple[float, pd.DataFrame | None]:
    """One model's median CPU latency (ms) and, if asked, per-layer times (used by budgets)."""
    from cspcost.profiling.run import profile

    result = profile(model, input_size, device="cpu", warmup=3, repeat=15, per_layer=per_layer, peaks=False)
    layers = None
    if per_layer and result.layers is not None:
        layers = result.layers
    return result.latency.median_ms, layers
