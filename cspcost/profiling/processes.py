"""The same measurement repeated in fresh processes, merged (as pyperf spawns worker processes).

One process sees one memory layout, one set of allocator decisions and one stretch of the
machine's state; a fresh process sees others. Each worker is ``python -m
cspcost.profiling.processes`` with the measurement's keyword arguments as JSON, printing the
result's JSON; the parent merges the runs: samples pooled, statistics and warnings recomputed,
each process summarised, and for paired runs the ratio interval computed over every process's
blocks of rounds (``intervals.paired_interval``).
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Callable, Sequence

import numpy as np

from cspcost.errors import CspcostError, UsageError

Runner = Callable[[str, dict[str, Any]], dict[str, Any]]  # (kind, kwargs) -> the result's dict
SPREAD_MAX = 0.10  # per-process medians further apart than this (relative) get a warning


def run_worker(kind: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh Python process and return its JSON as a dict."""
    payload = json.dumps({"kind": kind, "kwargs": kwargs})
    done = subprocess.run([sys.executable, "-m", "cspcost.profiling.processes", payload],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise UsageError(f"a measuring process failed: {lines[-1].removeprefix('error: ')}")
    return json.loads(done.stdout)


def check_specs(models: Sequence[Any]) -> None:
    """Fresh processes rebuild models from their names: modules cannot be sent."""
    if any(not isinstance(m, str) for m in models):
        raise UsageError("processes > 1 needs model names or file.py:factory specs, not modules")


def profile_processes(kwargs: dict[str, Any], processes: int, runner: Runner = run_worker) -> Any:
    """``profile(**kwargs)`` in ``processes`` fresh processes, merged into one ProfileResult."""
    check_specs([kwargs["model_or_name"]])
    if kwargs.get("per_layer"):
        raise UsageError("per-layer times are measured in one process; drop --processes or --per-layer")
    return merge_profiles([runner("profile", kwargs) for _ in range(processes)])


def paired_processes(kwargs: dict[str, Any], processes: int, runner: Runner = run_worker) -> Any:
    """``paired(**kwargs)`` in ``processes`` fresh processes, merged into one PairedResult."""
    check_specs(kwargs["models"])
    return merge_paired([runner("paired", kwargs) for _ in range(processes)])


def merge_profiles(runs: list[dict[str, Any]]) -> Any:
    """One ProfileResult from the JSON of several processes' profiles (samples pooled)."""
    from cspcost.profiling.noise import warnings
    from cspcost.profiling.result import ProfileResult
    from cspcost.profiling.timing import summarize

    first = runs[0]
    samples_ms = [x for run in runs for x in run["samples_ms"]]
    stats = summarize([x / 1e3 for x in samples_ms])
    env = {**first["environment"], "processes": len(runs), "runs": stats.runs,
           **_worst_machine(runs)}
    result = ProfileResult(first["model"], [tuple(s) for s in first["input_shape"]], first["batch"],
                           stats, samples_ms, environment=env)
    result.processes = [_summary(run) for run in runs]
    result.warnings = warnings(samples_ms, stats.cv, env) + _spread_warning(runs)
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


def merge_paired(runs: list[dict[str, Any]]) -> Any:
    """One PairedResult from the JSON of several processes' paired runs."""
    from cspcost.profiling.paired import build_result

    first = runs[0]
    names = [m["model"] for m in first["models"]]
    shapes = [tuple(m["input_shape"]) for m in first["models"]]
    seconds = [[list(np.asarray(m["samples_ms"]) / 1e3) for m in run["models"]] for run in runs]
    orders = [order for run in runs for order in run["orders"]]
    env = {**first["environment"], **_worst_machine(runs), "processes": len(runs)}
    return build_result(names, shapes, seconds, orders, first["warmup"], env, len(runs))


def _main(argv: list[str]) -> int:
    """Worker entry point: run the measurement given as JSON, print its JSON."""
    request = json.loads(argv[0])
    try:
        if request["kind"] == "paired":
            from cspcost.profiling.paired import paired

            print(json.dumps(paired(**request["kwargs"]).to_dict(), default=_plain))
        else:
            from cspcost.profiling.run import profile

            print(profile(**request["kwargs"]).to_json(indent=None))
    except CspcostError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def _plain(value: Any) -> Any:
    """numpy scalars as plain numbers."""
    return value.item() if hasattr(value, "item") else str(value)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
