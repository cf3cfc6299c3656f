"""The same measurement repeated in fresh processes, merged (as pyperf spawns worker processes).

One process sees one memory layout, one set of allocator decisions and one stretch of the
machine's state; a fresh process sees others. Each worker is ``python -m cspcost.profiling.worker``
with the measurement's spec as JSON and a result file: the result travels through that file, never
through stdout, so a model that prints (Ultralytics' first-run banner, user code) cannot corrupt it.
The parent merges the runs: samples pooled, statistics and warnings recomputed,
each process summarised, and for paired runs the ratio interval computed over every process's
blocks of rounds (``intervals.paired_interval``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cspcost.errors import UsageError
from cspcost.profiling.noise import noise_warnings
from cspcost.profiling.paired_result import PairedResult, build_result
from cspcost.profiling.result import ProfileResult
from cspcost.profiling.runtimes.onnx_export import FOLDER_ENV
from cspcost.profiling.spec import ProfileSpec
from cspcost.profiling.timing import sample_stats

Runner = Callable[[str, dict[str, Any]], dict[str, Any]]  # (kind, spec payload) -> the result's dict
SPREAD_MAX = 0.10  # per-process medians further apart than this (relative) get a warning


def run_worker(kind: str, payload: dict[str, Any], cache_dir: str | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh Python process; its result comes back through a file.

    ``cache_dir`` (exported ONNX files) reaches the worker as ``$CSPCOST_ONNX_CACHE``."""
    request = json.dumps({"kind": kind, "spec": payload})
    fd, path = tempfile.mkstemp(prefix="cspcost-worker-", suffix=".json")
    os.close(fd)
    try:
        env = {**os.environ, FOLDER_ENV: cache_dir} if cache_dir else None
        done = subprocess.run([sys.executable, "-m", "cspcost.profiling.worker", request, path],
                              capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()] or [f"exit code {done.returncode}"]
            errors = [ln for ln in lines if ln.startswith("error: ")]
            raise UsageError(f"a measuring process failed: {(errors or lines)[-1].removeprefix('error: ')}")
        return json.loads(Path(path).read_text())
    finally:
        Path(path).unlink(missing_ok=True)


def profile_processes(spec: ProfileSpec, processes: int, runner: Runner = run_worker,
                      cache_dir: str | None = None) -> ProfileResult:
    """``profile`` of ``spec`` in ``processes`` fresh processes, merged into one ProfileResult."""
    if spec.per_layer:
        raise UsageError("per-layer times are measured in one process; drop --processes or --per-layer")
    payload = spec.to_payload()
    run = partial(run_worker, cache_dir=cache_dir) if runner is run_worker else runner
    return merge_profiles([run("profile", payload) for _ in range(processes)])


def paired_processes(spec: ProfileSpec, processes: int, runner: Runner = run_worker,
                     cache_dir: str | None = None) -> PairedResult:
    """The paired measurement of ``spec`` in ``processes`` fresh processes, merged."""
    payload = spec.to_payload()
    run = partial(run_worker, cache_dir=cache_dir) if runner is run_worker else runner
    return merge_paired([run("paired", payload) for _ in range(processes)])


def merge_profiles(runs: list[dict[str, Any]]) -> ProfileResult:
    """One ProfileResult from the JSON of several processes' profiles (samples pooled)."""
    first = runs[0]
    samples_ms = [x for run in runs for x in run["samples_ms"]]
    stats = sample_stats([x / 1e3 for x in samples_ms])
    env = {**first["environment"], "processes": len(runs), "runs": stats.runs,
           **_worst_machine(runs)}
    result = ProfileResult(first["model"], [tuple(s) for s in first["input_shape"]], first["batch"],
                           stats, samples_ms, environment=env, runtime=first.get("runtime", "eager"))
    result.process_runs = [_summary(run) for run in runs]
    result.warnings = noise_warnings(samples_ms, stats.cv, env) + _spread_warning(runs)
    return result


def _worst_machine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The load meter's worst values over the processes (highest load and steal, lowest share)."""
    envs = [run["environment"] for run in runs]
    pick = {"load_avg_1min": max, "cpu_steal_share": max, "cpu_share": min}
    return {key: how(_num(e.get(key)) for e in envs) for key, how in pick.items()}


def _num(value: Any) -> float:
    """A JSON number (null -> NaN)."""
    return float("nan") if value is None else float(value)


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    """One process's median, CV, runs and machine state."""
    env = run["environment"]
    return {"median_ms": run["latency"]["median_ms"], "cv": run["latency"]["cv"],
            "runs": run["latency"]["runs"], "load_avg_1min": env.get("load_avg_1min"),
            "cpu_share": env.get("cpu_share"), "cpu_steal_share": env.get("cpu_steal_share")}


def _spread_warning(runs: list[dict[str, Any]]) -> list[str]:
    """A warning when the processes' medians disagree by more than ``SPREAD_MAX``."""
    medians = [run["latency"]["median_ms"] for run in runs]
    spread = max(medians) / min(medians) - 1.0
    if spread <= SPREAD_MAX:
        return []
    return [f"processes disagree: medians {min(medians):.1f}-{max(medians):.1f} ms ({spread:.0%} apart)"]


def merge_paired(runs: list[dict[str, Any]]) -> PairedResult:
    """One PairedResult from the JSON of several processes' paired runs."""
    first = runs[0]
    names = [m["model"] for m in first["models"]]
    shapes = [tuple(m["input_shape"]) for m in first["models"]]
    seconds = [[list(np.asarray(m["samples_ms"]) / 1e3) for m in run["models"]] for run in runs]
    orders = [order for run in runs for order in run["orders"]]
    env = {**first["environment"], **_worst_machine(runs), "processes": len(runs)}
    runtimes = [m.get("runtime", "eager") for m in first["models"]]
    return build_result(names, shapes, seconds, orders, first["warmup"], env, len(runs), runtimes)
