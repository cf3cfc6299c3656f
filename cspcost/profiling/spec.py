"""One measurement, frozen and validated: what ``profile``/``paired`` time, the worker payload, the cache key.

Every profiling parameter lives here once. ``ProfileSpec`` is checked when made (a bad count, dtype,
runtime or size is a UsageError naming it), travels to a fresh process as ``to_payload()`` (plain
JSON; model names or ``file.py:factory`` specs only) and comes back with ``from_payload``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Sequence

from torch import nn

from cspcost.errors import UsageError
from cspcost.profiling.device import DTYPES
from cspcost.profiling.environment import check_threads
from cspcost.profiling.intervals import MIN_SAMPLES

PRECISIONS = ("f32", "default")  # OpenVINO's inference precision: f32, or the runtime's own default
# ONNX Runtime's graph optimisation levels by the names the CLI takes (``GraphOptimizationLevel``)
ORT_LEVELS = {"all": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED", "basic": "ORT_ENABLE_BASIC",
              "disabled": "ORT_DISABLE_ALL"}
Model = nn.Module | str


@dataclass(frozen=True)
class ProfileSpec:
    """The models, inputs, device, dtype, threads, counts and runtimes of one measurement."""

    models: tuple[Model, ...]  # one for ``profile``, several for ``paired``
    input_size: tuple[tuple[int, ...], ...] | Sequence[Any] | None = None  # (C, H, W) per input (normalised)
    batch: int = 1
    device: str = "cpu"
    dtype: str = "float32"
    threads: int | None = 1  # intra-op threads in every runtime (None: torch's current count)
    channels_last: bool = False
    warmup: int = 10  # untimed forwards (profile) or rounds (paired), the first (checking) one included (0: only it)
    repeat: int = 30  # timed forwards (profile) or rounds (paired)
    min_time: float | None = None  # profile only: a time budget in seconds instead of ``repeat``
    runtimes: tuple[str, ...] = ("eager",)  # several: one model timed under each, interleaved
    precision: str = "f32"  # OpenVINO's precision hint
    per_layer: bool = False
    seed: int = 0  # paired: seeds the order shuffle
    shuffle: bool = True  # paired: shuffle the order within each round
    ort_level: str = "all"  # ONNX Runtime's graph optimisation level (a key of ORT_LEVELS)

    def __post_init__(self) -> None:
        """Validate every field, so a measurement never starts on bad input."""
        object.__setattr__(self, "dtype", str(self.dtype).removeprefix("torch."))
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "runtimes", tuple(self.runtimes))
        if self.input_size is not None:
            object.__setattr__(self, "input_size", _sizes(self.input_size))
        self._check_counts()
        if self.dtype not in DTYPES:
            raise UsageError(f"unsupported dtype {self.dtype!r}; use one of {', '.join(DTYPES)}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}")
        if self.ort_level not in ORT_LEVELS:
            raise UsageError(f"unknown ONNX Runtime level {self.ort_level!r}; use one of {', '.join(ORT_LEVELS)}")
        if not self.models or any(not isinstance(m, (str, nn.Module)) for m in self.models):
            raise UsageError("expected model names or nn.Modules")
        from cspcost.profiling.runtimes import parse_runtimes

        parse_runtimes(list(self.runtimes))

    def _check_counts(self) -> None:
        """Reject counts that cannot give a measurement."""
        for label, value, least in (("batch", self.batch, 1), ("warmup", self.warmup, 0), ("repeat", self.repeat, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise UsageError(f"{label} must be an integer of at least {least}, got {value!r}")
        if self.min_time is not None and not self.min_time > 0:
            raise UsageError(f"min_time must be a positive number of seconds, got {self.min_time!r}")
        check_threads(self.threads)

    def check_paired(self) -> None:
        """A paired measurement needs two entries and enough rounds for a 95% interval."""
        if len(self.models) * len(self.runtimes) < 2:
            raise UsageError("a paired comparison needs at least two models (or two runtimes)")
        if self.repeat < MIN_SAMPLES:
            raise UsageError(f"rounds must be an integer of at least {MIN_SAMPLES}, got {self.repeat!r}")

    @property
    def model(self) -> Model:
        """The one model of a ``profile`` measurement."""
        return self.models[0]

    @property
    def runtime(self) -> str:
        """The first (reference) runtime."""
        return self.runtimes[0]

    def with_(self, **changes: Any) -> ProfileSpec:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_payload(self) -> dict[str, Any]:
        """Plain JSON for a worker process (model specs must be strings)."""
        if any(not isinstance(m, str) for m in self.models):
            raise UsageError("processes > 1 needs model names or file.py:factory specs, not modules")
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ProfileSpec:
        """The spec a worker was sent."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in known})

    def key(self) -> str:
        """A content hash of the payload (the cache key of a measurement)."""
        text = json.dumps(self.to_payload(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sizes(size: Sequence[Any]) -> tuple[tuple[int, ...], ...]:
    """One or several (C, H, W) sizes, validated."""
    if not size:
        raise UsageError("empty input size; expected positive ints such as (3, 224, 224)")
    sizes = [tuple(s) for s in size] if isinstance(size[0], (list, tuple)) else [tuple(size)]
    for s in sizes:
        if not s or any(not isinstance(d, int) or isinstance(d, bool) or d <= 0 for d in s):
            raise UsageError(f"malformed input size {s!r}; expected positive ints such as (3, 224, 224)")
    return tuple(sizes)
