"""The latency API, mirroring the CLI: ``cspcost.calibrate``, ``cspcost.predict``, ``cspcost.explain``."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from torch import nn

from cspcost.latency import explain as _explain
from cspcost.latency import predict as _predict
from cspcost.latency.calibrate import calibrate as _calibrate
from cspcost.latency.engine import machine_for
from cspcost.latency.machine import MachineProfile, save

__all__ = ["calibrate", "predict", "explain"]


def calibrate(runtime: str = "eager", threads: int = 1, *, quick: bool = False, refresh: bool = False,
              out: str | Path | None = None) -> MachineProfile:
    """``cspcost device --calibrate``: this machine's latency model for a runtime and thread count.

    The default grid's result is cached per machine, runtime and threads (and reused unless
    ``refresh``); ``quick`` runs the tiny grid and is never cached. ``out`` also writes the file there.
    """
    profile = _calibrate(runtime, threads, "quick") if quick else machine_for(None, runtime, threads, refresh=refresh)[0]
    if out is not None:
        save(profile, out)
    return profile


def predict(model: nn.Module | str, machine: str | Path | MachineProfile | None = None, *, runtime: str | None = None,
            threads: int | None = None, input_size: Sequence[int] | None = None, batch: int = 1,
            depth: int | None = None) -> _predict.Prediction:
    """``cspcost analyze MODEL --predict``: per-layer and total predicted latency from the meta capture.

    Args:
        model: anything ``cspcost.analyze`` takes.
        machine: a machine file path or profile; None: this machine's cached calibration (made if missing).
        runtime, threads: what to predict for (a file made for another is refused).
    Returns:
        A Prediction: ``.predicted_ms``, ``.layers`` (predicted_ms, bound), ``.ops``, ``.totals``.
    """
    profile, _ = machine_for(str(machine) if isinstance(machine, Path) else machine, runtime, threads)
    return _predict.predict(model, profile, input_size, batch, depth=depth)


def explain(model: str, machine: str | Path | MachineProfile | None = None, *, threads: int = 1,
            input_size: Sequence[int] | None = None, repeat: int = 10, top: int = 8) -> _explain.Explanation:
    """``cspcost explain MODEL``: measured per-layer time (eager) against FLOPs, bytes and the prediction."""
    profile, _ = machine_for(str(machine) if isinstance(machine, Path) else machine, "eager", threads)
    return _explain.explain(model, profile, input_size, threads=threads, repeat=repeat, top=top)
