"""The latency verbs the CLI and API share: find or make a machine file, predict, join, compare.

``machine_for`` is the one place that decides which machine file a prediction uses: the path the
user gave (checked against the runtime and threads asked for), else this machine's cached
calibration for that runtime and thread count, else a fresh calibration (default grid), cached.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import pandas as pd
from torch import nn

from cspcost.cache import warn_unwritable
from cspcost.errors import UsageError
from cspcost.latency.calibrate import CalibrationProgress, calibrate, method_digest
from cspcost.latency.machine import MachineFileError, MachineProfile, cache_path, check_fits, load, save
from cspcost.latency.predict import Prediction, join_layers, predict
from cspcost.latency.runtimes import RUNTIMES, make_runtime


def machine_for(machine: str | MachineProfile | None = None, runtime: str | None = None, threads: int | None = None,
                *, refresh: bool = False, grid: str = "default",
                progress: CalibrationProgress | None = None) -> tuple[MachineProfile, list[str]]:
    """The machine file a prediction uses, and warnings about it.

    Args:
        machine: a path, a loaded MachineProfile, or None for this machine's cached calibration.
        runtime: "eager", "onnxruntime" or "openvino" (None: the file's own, or eager).
        threads: CPU threads (None: the file's own, or 1).
        refresh: calibrate again even if a cached file exists.
        grid: the calibration grid when one is made ("default" or "quick").
        progress: calibration progress (done, total, label).
    Returns:
        (MachineProfile, warning lines). A file for another runtime or thread count is refused.
    """
    if machine is not None:
        profile = load(machine) if not isinstance(machine, MachineProfile) else machine
        return profile, check_fits(profile, runtime, threads, _versions(profile.runtime, runtime))
    rt, n = runtime or "eager", threads or 1
    make_runtime(rt, n)  # an unknown runtime or bad thread count is refused before any work
    path = cache_path(rt, n)
    if path.exists() and not refresh:
        try:
            profile = load(path)
            if profile.stamp.get("method") != method_digest():
                return _calibrate_and_cache(rt, n, grid, progress, [
                    "the cached calibration was made by another version of cspcost's latency model; recalibrated"])
            return profile, check_fits(profile, rt, n, _versions(rt, rt))
        except MachineFileError as exc:
            return _calibrate_and_cache(rt, n, grid, progress, [f"{exc}; recalibrated"])
    return _calibrate_and_cache(rt, n, grid, progress, [])


def _calibrate_and_cache(runtime: str, threads: int, grid: str, progress: CalibrationProgress | None,
                         notes: list[str]) -> tuple[MachineProfile, list[str]]:
    """Calibrate, cache the result for this machine, and say where it went."""
    profile = calibrate(runtime, threads, grid, progress=progress)
    path = cache_path(runtime, threads)
    try:
        save(profile, path)
    except (OSError, UsageError) as exc:  # a finished calibration outlives an unwritable cache
        warn_unwritable("machine file", path.parent, exc)
        return profile, [*notes, f"calibrated this machine for {runtime}, {threads} thread(s) (not cached)"]
    return profile, [*notes, f"calibrated this machine for {runtime}, {threads} thread(s): {path}"]


def _versions(file_runtime: str, runtime: str | None) -> dict[str, str]:
    """This process's versions to compare with a file's stamp (torch, and the runtime's)."""
    import torch

    name = runtime or file_runtime
    versions: dict[str, str] = {"torch": str(torch.__version__), "method": method_digest()}
    if name in RUNTIMES:
        try:
            versions["runtime_version"] = make_runtime(name).version()
        except Exception:  # noqa: BLE001 - a runtime not installed has no version to compare
            pass
    return versions


def add_prediction(result: Any, prediction: Prediction) -> Any:
    """An AnalysisResult with ``predicted_ms`` and ``bound`` per layer and the totals' prediction."""
    totals = {**result.totals, "predicted_ms": prediction.predicted_ms,
              "predicted_overhead_ms": prediction.totals["predicted_overhead_ms"],
              "predicted_label": prediction.totals["predicted_label"],
              "predicted_runtime": prediction.machine.runtime, "predicted_threads": prediction.machine.threads,
              "predicted_device": prediction.machine.device}
    depth = _depth_of(result.layers, prediction)
    layers = join_layers(result.layers, prediction if depth is None else _regrouped(prediction, depth))
    return dataclasses.replace(result, totals=totals, layers=layers)


def _depth_of(layers: pd.DataFrame, prediction: Prediction) -> int | None:
    """The module depth an analysis table was aggregated at (None: executing modules)."""
    names = set(layers["name"])
    if names >= set(prediction.layers["name"]):
        return None
    return max((len(n.split(".")) for n in names if n != "(root)"), default=0)


def _regrouped(prediction: Prediction, depth: int) -> Prediction:
    """The prediction's layer rows grouped at ``depth``."""
    from cspcost.latency.predict import layer_frame

    return dataclasses.replace(prediction, layers=layer_frame(prediction.ops, depth))


def analyze_predicted(model: nn.Module | str, machine: MachineProfile, input_size: Sequence[Any] | None = None,
                      batch: int = 1, **analyze_kwargs: Any) -> Any:
    """``cspcost.analyze`` with the prediction joined in (one capture for each)."""
    from cspcost.walk.analysis import analyze

    result = analyze(model, input_size, batch, **analyze_kwargs)
    return add_prediction(result, predict(model, machine, input_size, batch))


def compare_predicted(comparison: Any, models: Sequence[Any], machine: MachineProfile,
                      input_size: Sequence[int] | None = None, batch: int = 1) -> Any:
    """A Comparison whose table gains ``flops_ratio``, ``cio_ratio``, ``predicted_ms`` and ``predicted_ratio``
    (each against the first model)."""
    table = comparison.table.copy()
    predicted = [predict(m, machine, input_size, batch).predicted_ms for m in models]
    table["predicted_ms"] = predicted
    table["predicted_ratio"] = [p / predicted[0] for p in predicted]
    table["flops_ratio"] = table["flops"] / table["flops"].iloc[0]
    table["cio_ratio"] = table["cio_elems"] / table["cio_elems"].iloc[0] if table["cio_elems"].iloc[0] else float("nan")
    return dataclasses.replace(comparison, table=table)
