"""What a paired measurement gives: per model its rounds, latency and ratio to the first, and the whole.

``build_result`` turns raw seconds (per process, per model, per round) into statistics, per-round
ratios with their order-statistics interval, sign tests and warnings; it is shared by one process's
measurement (``paired``) and the merge of several (``processes``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cspcost.profiling.intervals import MedianInterval, paired_interval, sign_test_p
from cspcost.profiling.noise import noise_warnings
from cspcost.profiling.result import plain
from cspcost.profiling.timing import Stats, sample_stats

METHOD = ("median of per-round ratios; 95% interval: distribution-free order statistics "
          "[r(k), r(n+1-k)] of the n ratios, k the largest with 1 - 2 P(Binomial(n, 1/2) < k) >= 0.95")


@dataclass(frozen=True)
class PairedModel:
    """One model's rounds, its latency, and its ratio against the first model."""

    name: str
    input_shape: tuple[int, ...]  # with the batch dimension
    samples_ms: list[float] = field(repr=False)  # one per round, in round order (runs one after another)
    latency: Stats
    ratios_by_run: list[list[float]] = field(repr=False)  # time over the first's, per round, per run
    ratio: MedianInterval
    p_value: float  # two-sided sign test of "median ratio = 1"
    warnings: list[str]
    runtime: str = "eager"

    @property
    def ratios(self) -> list[float]:
        """Every per-round ratio, runs one after another."""
        return [x for run in self.ratios_by_run for x in run]

    @property
    def significant(self) -> bool:
        """Whether the 95% interval of the ratio excludes 1 (always False for the first model)."""
        return self.ratio.excludes(1.0)

    def row(self) -> dict[str, Any]:
        """The comparison fields: latency_ms, latency_ratio, latency_ratio_ci95, significance."""
        return {"latency_ms": self.latency.median_ms, "latency_ratio": self.ratio.median,
                "latency_ratio_ci95": [self.ratio.low, self.ratio.high],
                "latency_significant": self.significant, "latency_p_value": self.p_value,
                "latency_cv": self.latency.cv}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the row, the statistics, the per-round samples and ratios."""
        return {"model": self.name, "runtime": self.runtime, "input_shape": list(self.input_shape), **self.row(),
                "latency": self.latency.to_dict(), "warnings": self.warnings,
                "samples_ms": self.samples_ms, "ratios": self.ratios,
                "rounds_per_run": [len(run) for run in self.ratios_by_run]}


@dataclass(frozen=True)
class PairedResult:
    """An interleaved measurement of several models; the first is the reference."""

    models: list[PairedModel]
    rounds: int
    warmup: int
    orders: list[list[int]] = field(repr=False)  # the order of the models in each round
    environment: dict[str, Any]
    warnings: list[str]  # about the machine during the whole measurement
    processes: int = 1  # fresh processes the rounds were run in (merged)
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (keys: method, rounds, warmup, processes, environment, warnings,
        models, orders)."""
        return plain({"method": self.method, "runtime": self.environment.get("runtime", "eager"),
                "rounds": self.rounds, "warmup": self.warmup,
                "processes": self.processes, "environment": self.environment,
                "warnings": self.warnings, "models": [m.to_dict() for m in self.models],
                "orders": self.orders})


def build_result(names: list[str], shapes: list[tuple[int, ...]], runs: list[list[list[float]]],
                 orders: list[list[int]], warmup: int, env: dict[str, Any], processes: int = 1,
                 runtimes: list[str] | None = None) -> PairedResult:
    """Statistics, per-round ratios and their intervals, and warnings, from raw seconds.

    Args:
        runs: per run (process), per model, the seconds of each round in time order.
        runtimes: each entry's runtime (default: all eager).
    """
    models = []
    runtimes = runtimes or ["eager"] * len(names)
    for i, (name, shape) in enumerate(zip(names, shapes)):
        own = [t for run in runs for t in run[i]]
        by_run = [[t / t0 for t, t0 in zip(run[i], run[0])] for run in runs]
        stats = sample_stats(own)
        samples_ms = [t * 1e3 for t in own]
        model_warnings = noise_warnings(samples_ms, stats.cv, {})  # spread and drift; the machine below
        models.append(PairedModel(name, shape, samples_ms, stats, by_run, paired_interval(by_run),
                                  sign_test_p([x for run in by_run for x in run]), model_warnings,
                                  runtimes[i]))
    return PairedResult(models, len(orders), warmup, orders, env, noise_warnings([], 0.0, env), processes)
