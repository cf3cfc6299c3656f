"""The machine profile file: a calibrated latency model (or published roofline ceilings) as JSON.

Two kinds, one versioned format (``"format": "cspcost-machine"``, ``"version": 1``):

- ``calibrated``: written by ``cspcost device --calibrate`` on the machine and runtime it models;
  per op class, the fitted coefficients of its features (``opclass.py``), plus the runtime's fixed
  per-run and per-module-call overheads. Predictions from it are predictions.
- ``roofline``: written by hand from a device's published peak FLOP/s and memory bandwidth (a
  Jetson, a GPU). Each op is bounded below by ``max(flops / peak, bytes / bandwidth)``: these are
  *bounds*, labelled so, never measurements or predictions.

A file is checked against the runtime and threads asked for: another runtime or thread count is
refused naming what differs; another torch or runtime version is used with a warning (the kernels
may have changed, the shapes have not); a file from another CPU is fine (that is what predicting
another device means). A corrupt file is one line (``MachineFileError``, exit 2).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cspcost.cache import default_dir as cache_dir
from cspcost.errors import UsageError
from cspcost.files import write_atomic
from cspcost.latency.opclass import CLASSES

FORMAT, VERSION = "cspcost-machine", 1
KINDS = ("calibrated", "roofline")


class MachineFileError(UsageError):
    """A machine file that cannot be read, is not a machine file, or does not fit the request (exit 2)."""


@dataclass(frozen=True)
class ClassFit:
    """One op class's fitted cost per unit of each feature (seconds per unit)."""

    features: list[str]
    coef: list[float]
    points: int = 0
    median_abs_err: float = 0.0  # relative error of the fit on its own calibration points
    residuals: list[list[Any]] = field(default_factory=list)  # [category, key, log(measured/fitted)] per point


@dataclass(frozen=True)
class MachineProfile:
    """A machine and runtime's latency model (calibrated) or published ceilings (roofline)."""

    kind: str  # "calibrated" or "roofline"
    runtime: str  # "eager", "onnxruntime", or any name for a roofline file
    threads: int
    device: str  # what it describes: a CPU model, "Jetson AGX Orin", ...
    stamp: dict[str, Any] = field(default_factory=dict)  # versions and where it was made
    classes: dict[str, ClassFit] = field(default_factory=dict)
    run_overhead_s: float = 0.0  # once per forward
    module_call_s: float = 0.0  # per nn.Module call (eager's Python overhead)
    peak_gflops: float = 0.0  # roofline ceiling (calibrated: the best attained)
    bandwidth_gbs: float = 0.0
    created_at: str = ""
    grid: str = ""
    notes: str = ""

    @property
    def is_bound(self) -> bool:
        """True for a roofline file: its numbers are lower bounds, not predictions."""
        return self.kind == "roofline"

    @property
    def ort_level(self) -> str | None:
        """The ``--ort-level`` name of the ONNX Runtime level the file was calibrated at (None if unstated)."""
        from cspcost.profiling.spec import ORT_LEVELS

        names = {v: k for k, v in ORT_LEVELS.items()}
        return names.get(str(self.stamp.get("graph_optimization", "")))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to disk."""
        data = asdict(self)
        return {"format": FORMAT, "version": VERSION, **data}

    def to_json(self) -> str:
        """The file's text (sorted classes, two-space indent, trailing newline)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"


def from_dict(data: Any, source: str = "machine file") -> MachineProfile:
    """A MachineProfile from parsed JSON, or a MachineFileError naming the first problem."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise MachineFileError(f"{source}: not a cspcost machine file (no \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise MachineFileError(f"{source}: machine file version {data.get('version')!r}; this cspcost reads "
                               f"version {VERSION} (recalibrate: cspcost device --calibrate)")
    try:
        kind = str(data["kind"])
        if kind not in KINDS:
            raise MachineFileError(f"{source}: kind {kind!r}; expected one of {', '.join(KINDS)}")
        classes = {name: _class_fit(name, fit, source) for name, fit in dict(data.get("classes", {})).items()}
        profile = MachineProfile(
            kind, str(data["runtime"]), int(data["threads"]), str(data["device"]), dict(data.get("stamp", {})),
            classes, float(data.get("run_overhead_s", 0.0)), float(data.get("module_call_s", 0.0)),
            float(data.get("peak_gflops", 0.0)), float(data.get("bandwidth_gbs", 0.0)),
            str(data.get("created_at", "")), str(data.get("grid", "")), str(data.get("notes", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise MachineFileError(f"{source}: malformed machine file ({type(exc).__name__}: {exc})") from None
    _check_values(profile, source)
    return profile


def _class_fit(name: str, fit: Any, source: str) -> ClassFit:
    """One class entry, checked: a known class, features as the class defines them, one coef each."""
    if name not in CLASSES:
        raise MachineFileError(f"{source}: unknown op class {name!r}; known: {', '.join(CLASSES)}")
    features, coef = list(fit["features"]), [float(c) for c in fit["coef"]]
    if features != list(CLASSES[name].feature_names) or len(coef) != len(features):
        raise MachineFileError(f"{source}: class {name!r} has features {features}; this cspcost fits "
                               f"{list(CLASSES[name].feature_names)} (recalibrate)")
    residuals = [[str(r[0]), [float(v) for v in r[1]], float(r[2])] for r in fit.get("residuals", [])]
    return ClassFit(features, coef, int(fit.get("points", 0)), float(fit.get("median_abs_err", 0.0)), residuals)


def _check_values(profile: MachineProfile, source: str) -> None:
    """Positive ceilings for a roofline file, non-negative coefficients, threads >= 1."""
    if profile.threads < 1:
        raise MachineFileError(f"{source}: threads must be at least 1, got {profile.threads}")
    if profile.is_bound and (profile.peak_gflops <= 0 or profile.bandwidth_gbs <= 0):
        raise MachineFileError(f"{source}: a roofline file needs peak_gflops > 0 and bandwidth_gbs > 0")
    if not profile.is_bound and not profile.classes:
        raise MachineFileError(f"{source}: a calibrated file needs at least one op class")
    for name, fit in profile.classes.items():
        if any(c < 0 or c != c for c in fit.coef):
            raise MachineFileError(f"{source}: class {name!r} has a negative or NaN coefficient")


def load(path: str | Path) -> MachineProfile:
    """Read a machine file; a missing, unreadable or malformed one is one MachineFileError line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MachineFileError(f"cannot read machine file {p}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MachineFileError(f"{p}: not valid JSON (line {getattr(exc, 'lineno', '?')}): "
                               "a corrupt machine file; delete it or recalibrate") from None
    return from_dict(data, str(p))


def save(profile: MachineProfile, path: str | Path) -> Path:
    """Write the file whole (temp + rename)."""
    write_atomic(path, profile.to_json())
    return Path(path)


def check_fits(profile: MachineProfile, runtime: str | None, threads: int | None,
               versions: dict[str, str] | None = None) -> list[str]:
    """Refuse a calibrated file made for another runtime or thread count; warnings for versions.

    Args:
        profile: the loaded file.
        runtime, threads: what the user asked for (None: whatever the file says).
        versions: this process's versions (``torch``, ``runtime_version``) to compare.
    Returns:
        Warning lines (versions that differ); raises MachineFileError for a refusal.
    """
    if profile.is_bound:
        return []
    differ = []
    if runtime is not None and runtime != profile.runtime:
        differ.append(f"runtime {profile.runtime} (asked: {runtime})")
    if threads is not None and threads != profile.threads:
        differ.append(f"threads {profile.threads} (asked: {threads})")
    if differ:
        raise MachineFileError("machine file was calibrated for " + ", ".join(differ)
                               + "; calibrate for this setting: cspcost device --calibrate"
                               + (f" --runtime {runtime}" if runtime else "") + (f" --threads {threads}" if threads else ""))
    warnings = []
    for key, now in (versions or {}).items():
        then = profile.stamp.get(key)
        if then is None or now is None or str(then) == str(now):
            continue
        if key == "method":
            warnings.append(f"machine file was calibrated by another version of cspcost's latency model "
                            f"(method {then}, this is {now}): recalibrate to be sure")
        else:
            warnings.append(f"machine file was calibrated with {key} {then}, this is {now}: "
                            "kernels may differ (recalibrate to be sure)")
    return warnings


def machine_id() -> str:
    """A short id of this machine: CPU model, CPU count and host name, hashed."""
    text = f"{cpu_model()}|{os.cpu_count()}|{platform.node()}"
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def cache_path(runtime: str, threads: int) -> Path:
    """Where this machine's calibration for ``runtime`` and ``threads`` is cached."""
    return cache_dir() / f"machine-{machine_id()}-{runtime}-{threads}t.json"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def now_utc() -> str:
    """ISO 8601 time, seconds, UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
