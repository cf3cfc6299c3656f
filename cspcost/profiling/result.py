"""What ``profile`` measured: latency statistics, the per-layer join with the walker, the roofline.

Per-layer columns (one row per walker layer; raw sums are additive, so any module depth is a
group-by away):

| column | meaning |
|---|---|
| `measured_ms` | median over instrumented runs of the time spent in the layer's own ops (eager) or nodes (other runtimes) |
| `latency_ms` | the same number (the name every runtime's layer row carries) |
| `time_share` | `measured_ms` over the sum of all layers' `measured_ms` |
| `flops`, `flops_share` | the walker's FLOPs and their share of the model's |
| `cio_elems`, `cio_share` | the walker's CIO (conv inputs + outputs, HarDNet's definition) and its share |
| `share_gap` | `time_share - flops_share`: > 0 for layers slower than their FLOPs suggest (G4) |
| `bytes_moved` | the walker's `bytes_read + bytes_written` |
| `achieved_gflops`, `achieved_gbs` | `flops` and `bytes_moved` over `measured_ms` (1 G = 1e9) |
| `intensity` | `flops / bytes_moved` |
| `compute_ms`, `memory_ms` | roofline: `flops / peak_gflops`, `bytes_moved / bandwidth_gbs` |
| `predicted_ms`, `bound` | `max(compute_ms, memory_ms)` and which one wins |
| `roofline_efficiency` | `predicted_ms / measured_ms` (1.0 = at the roof) |
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cspcost.jsondump import dumps
from cspcost.profiling.layers import LayerTimes
from cspcost.profiling.peaks import DevicePeaks, bound, roofline_ms
from cspcost.profiling.runtimes.base import ModuleTimes
from cspcost.profiling.timing import Stats, spearman
from cspcost.walk.metrics import ancestor

LAYER_SUM_COLUMNS = ["ops", "measured_ms", "flops", "cio_elems", "bytes_moved", "compute_ms", "memory_ms", "predicted_ms"]
LAYER_COLUMNS = ["name", "type", "ops", "measured_ms", "latency_ms", "time_share", "flops", "flops_share",
                 "share_gap", "bytes_moved", "achieved_gflops", "achieved_gbs", "intensity",
                 "compute_ms", "memory_ms", "predicted_ms", "bound", "roofline_efficiency", "cio_elems", "cio_share"]


def join_layers(walker: pd.DataFrame, times: LayerTimes | ModuleTimes, peaks: DevicePeaks | None) -> pd.DataFrame:
    """The walker's layers joined with their measured times and roofline bounds (raw columns).

    Args:
        walker: ``analyze(...).layers`` at leaf level (columns name, type, ops, flops, bytes_*).
        times: the per-layer times of the instrumented runs.
        peaks: device peaks for the roofline, or None (roofline columns NaN).
    Returns:
        One row per layer, the walker's order; layers timed but unknown to the walker appended.
    """
    measured = {name: float(np.median(s)) * 1e3 for name, s in times.per_run_s.items()}
    frame = walker[["name", "type", "ops", "flops"]].copy()
    frame["cio_elems"] = walker["cio_elems"] if "cio_elems" in walker else 0
    frame["bytes_moved"] = walker["bytes_read"] + walker["bytes_written"]
    extra = [n for n in measured if n not in set(frame["name"])]  # should not happen: same tracker
    if extra:
        frame = pd.concat([frame, pd.DataFrame({"name": extra, "type": "?", "ops": 0, "flops": 0, "cio_elems": 0,
                                                "bytes_moved": 0})], ignore_index=True)
    frame["measured_ms"] = frame["name"].map(measured).fillna(0.0)
    return _add_roofline(frame, peaks)


def _add_roofline(frame: pd.DataFrame, peaks: DevicePeaks | None) -> pd.DataFrame:
    """compute_ms, memory_ms and predicted_ms per layer (NaN without peaks)."""
    if peaks is None:
        for key in ("compute_ms", "memory_ms", "predicted_ms"):
            frame[key] = math.nan
        return frame
    frame["compute_ms"], frame["memory_ms"], frame["predicted_ms"] = roofline_ms(
        frame["flops"].astype(float), frame["bytes_moved"].astype(float), peaks.peak_gflops,
        peaks.bandwidth_gbs)
    return frame


def at_depth(raw: pd.DataFrame, depth: int | None, types: dict[str, str]) -> pd.DataFrame:
    """Raw layer rows summed into their ancestor at module ``depth`` (None: as they are)."""
    if depth is None:
        return raw
    names = raw["name"].map(lambda n: ancestor(n, depth))
    summed = [c for c in LAYER_SUM_COLUMNS if c in raw]  # frames from before the CIO column lack it
    grouped = raw.groupby(names, sort=False)[summed].sum(min_count=1).reset_index()
    grouped["type"] = grouped["name"].map(lambda n: types.get(n, "?"))
    return grouped


def derive(raw: pd.DataFrame) -> pd.DataFrame:
    """Shares, achieved rates, intensity, bound and efficiency from the additive columns."""
    f = raw.copy()
    total_ms, total_flops = f["measured_ms"].sum(), f["flops"].sum()
    f["time_share"] = f["measured_ms"] / total_ms if total_ms else 0.0
    f["flops_share"] = f["flops"] / total_flops if total_flops else 0.0
    f["share_gap"] = f["time_share"] - f["flops_share"]
    f["latency_ms"] = f["measured_ms"]  # the same number under the name every runtime's table uses
    total_cio = f["cio_elems"].sum() if "cio_elems" in f else 0
    f["cio_elems"] = f["cio_elems"] if "cio_elems" in f else 0
    f["cio_share"] = f["cio_elems"] / total_cio if total_cio else 0.0
    ms = f["measured_ms"].where(f["measured_ms"] > 0)
    f["achieved_gflops"] = (f["flops"] / (ms * 1e6)).fillna(0.0)  # flops / (ms * 1e-3 s) / 1e9
    f["achieved_gbs"] = (f["bytes_moved"] / (ms * 1e6)).fillna(0.0)
    moved = f["bytes_moved"].where(f["bytes_moved"] > 0)
    f["intensity"] = (f["flops"] / moved).fillna(0.0)
    f["bound"] = [bound(c, m) if not math.isnan(c) else "" for c, m in zip(f["compute_ms"], f["memory_ms"])]
    f["roofline_efficiency"] = f["predicted_ms"] / ms
    return f[LAYER_COLUMNS]


def rank_correlation(raw: pd.DataFrame) -> float:
    """Spearman's rho of predicted vs measured time over the layers that ran and cost something."""
    ran = raw[(raw["measured_ms"] > 0) & (raw["predicted_ms"] > 0)]
    return spearman(ran["predicted_ms"], ran["measured_ms"])


def layer_summary(raw: pd.DataFrame, times: LayerTimes | ModuleTimes, end_to_end_ms: float) -> dict[str, Any]:
    """The per-layer sum against the end-to-end median, and the cost of instrumenting.

    The ratio compares like with like: the median over instrumented runs of each run's layer
    total, over the median of the plain forwards interleaved with them (same load on a shared
    machine; ``end_to_end_ms`` if there are none). The sum of the per-layer medians is lower under
    bursty load (a burst raises one run's total but rarely a layer's median), so it is reported
    apart.
    """
    layer_sum = float(np.median(times.run_totals_s())) * 1e3
    instrumented = float(np.median(times.wall_s)) * 1e3
    reference = float(np.median(times.reference_s)) * 1e3 if times.reference_s else end_to_end_ms
    return {
        "end_to_end_ms": end_to_end_ms,  # the model-level median
        "reference_ms": reference,  # median of the interleaved plain forwards
        "layer_sum_ms": layer_sum,  # median over runs of the run's sum over layers
        "layer_medians_sum_ms": float(raw["measured_ms"].sum()),  # sum of the table's column
        "layer_sum_ratio": layer_sum / reference,
        # within each profiled run: its layer total over its own wall time (robust to load between runs)
        "layer_sum_run_ratio": float(np.median([t / w for t, w in zip(times.run_totals_s(), times.wall_s) if w > 0]
                                               or [math.nan])),
        "instrumented_ms": instrumented,  # wall time of an instrumented run
        "instrumentation_overhead": instrumented / reference - 1.0,
        "layer_runs": len(times.wall_s),
        "spearman_predicted_vs_measured": _or_none(rank_correlation(raw)),
    }


def _or_none(x: float) -> float | None:
    """NaN as None (JSON null)."""
    return None if x is None or math.isnan(x) else x


@dataclass
class ProfileResult:
    """Model-level latency and, if asked, per-layer latency joined with the walker's costs."""

    model: str
    input_shape: list[tuple[int, ...]]  # with the batch dimension
    batch: int
    latency: Stats
    samples_ms: list[float] = field(repr=False)
    environment: dict[str, Any] = field(default_factory=dict)
    raw_layers: pd.DataFrame | None = field(default=None, repr=False)  # leaf level, additive
    layer_summary: dict[str, Any] | None = None
    peaks: DevicePeaks | None = None
    depth: int | None = None
    module_types: dict[str, str] = field(default_factory=dict, repr=False)
    warnings: list[str] = field(default_factory=list)  # why the run may not be trustworthy
    process_runs: list[dict[str, Any]] | None = None  # per-process summaries when merged (JSON "processes")
    runtime: str = "eager"  # the runtime the model was timed under
    mapped_time_share: float | None = None  # per layer: the runtime's time charged to a module (0-1)
    unmapped_ms: dict[str, float] = field(default_factory=dict)  # per layer: the rest, by node type
    fused_away: dict[str, list[str]] = field(default_factory=dict)  # module -> modules fused into it
    analysis: Any = field(default=None, repr=False)  # the walker's AnalysisResult behind the per-layer join

    @property
    def fps(self) -> float:
        """Forward passes per second at the median latency."""
        return 1e3 / self.latency.median_ms

    @property
    def images_per_s(self) -> float:
        """Images per second at the median latency (``batch * fps``)."""
        return self.batch * self.fps

    @property
    def layers(self) -> pd.DataFrame | None:
        """The per-layer table at the result's depth (None without ``per_layer``)."""
        return None if self.raw_layers is None else self.layers_at(self.depth)

    def layers_at(self, depth: int | None) -> pd.DataFrame:
        """The per-layer table aggregated at module ``depth`` (None: every executing module)."""
        if self.raw_layers is None:
            raise ValueError("no per-layer times: profile(..., per_layer=True)")
        return derive(at_depth(self.raw_layers, depth, self.module_types))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (keys: model, runtime, input_shape, batch, latency, throughput, environment,
        warnings, processes, samples_ms, per_layer, mapped_time_share, unmapped_ms, fused_away, peaks,
        layers); NaN as None."""
        layers = self.layers
        return plain({
            "model": self.model,
            "runtime": self.runtime,
            "input_shape": [list(s) for s in self.input_shape],
            "batch": self.batch,
            "latency": self.latency.to_dict(),
            "throughput": {"images_per_s": self.images_per_s, "fps": self.fps},
            "environment": self.environment,
            "warnings": self.warnings,
            "processes": self.process_runs,
            "samples_ms": self.samples_ms,
            "per_layer": self.layer_summary,
            "mapped_time_share": self.mapped_time_share,
            "unmapped_ms": self.unmapped_ms,
            "fused_away": self.fused_away,
            "peaks": self.peaks.to_dict() if self.peaks else None,
            "layers": None if layers is None else _records(layers),
        })

    def to_json(self, indent: int | None = 2) -> str:
        """The result as a JSON string (NaN written as null: strict JSON)."""
        return dumps(self.to_dict(), indent=indent)


def plain(value: Any) -> Any:
    """A JSON-ready copy: NaN and infinities as None, numpy scalars and tuples as plain Python."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as dicts, NaN as None."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


