"""The runtime protocol: what a backend gives the profiler for one model, and its per-layer times.

A runtime turns an ``nn.Module`` (eval mode, real weights, on the device) and its inputs (made once)
into a ``Prepared``: a zero-argument ``forward`` that runs one forward pass under the runtime, the
``timer`` that times one call of it (host clock or device events), the runtime's ``stamp``
(versions, providers, precision), and, where the runtime can say, ``layer_times(runs)``: per-module
seconds of each profiled run. ``close()`` frees the runtime's session. Everything that is not the
forward itself (export, compilation, session creation) happens in ``prepare`` and is never timed;
its seconds are stated in the stamp (``prepare_s``; ``compile_s`` for torch.compile).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import torch
from torch import nn

from cspcost.profiling.timing import Timer


@dataclass(frozen=True)
class RuntimeOptions:
    """How a runtime is asked to run: the device, intra-op threads, and runtime-specific choices."""

    device: torch.device
    threads: int  # intra-op threads, set the same way in every runtime
    precision: str = "f32"  # OpenVINO's inference precision hint: "f32" or "default" (the runtime's own)
    cache_dir: str | None = None  # exported ONNX files (None: the user cache, see ``export.cache_dir``)
    # ONNX Runtime's graph optimisation level (a ``GraphOptimizationLevel`` name), stamped as
    # ``graph_optimization``; latency calibration asks for ORT_ENABLE_EXTENDED (see latency.runtimes)
    ort_optimization: str = "ORT_ENABLE_ALL"


@dataclass(frozen=True)
class ModuleTimes:
    """Per-layer times a runtime measured, mapped back to the walker's module paths.

    ``per_run_s[path][i]`` is the seconds charged to module ``path`` in profiled run ``i``;
    ``unmapped_s`` the seconds of nodes no module could be found for, by node type (per run);
    ``wall_s`` each profiled run's end-to-end time (with the runtime's profiler on);
    ``fused_away`` maps a module that kept the fused node's time to the modules folded into it.
    """

    per_run_s: dict[str, list[float]]
    unmapped_s: dict[str, list[float]]
    wall_s: list[float]
    fused_away: dict[str, list[str]] = field(default_factory=dict)
    nodes: int = 0  # profiled nodes (kernels) per run
    note: str = ""  # how the times were obtained (e.g. "ORT profiler: _kernel_time events")
    reference_s: list[float] = field(default_factory=list)  # plain forwards interleaved with the runs

    def run_totals_s(self) -> list[float]:
        """Each profiled run's time summed over mapped and unmapped nodes."""
        columns = [*self.per_run_s.values(), *self.unmapped_s.values()]
        return [sum(run) for run in zip(*columns)] if columns else [0.0] * len(self.wall_s)

    def mapped_share(self) -> float:
        """The share of the runtime's profiled time charged to a module (0-1)."""
        mapped = sum(sum(v) for v in self.per_run_s.values())
        unmapped = sum(sum(v) for v in self.unmapped_s.values())
        return mapped / (mapped + unmapped) if mapped + unmapped else 0.0


class Prepared(Protocol):
    """A model ready to run under one runtime (what ``Runtime.prepare`` returns)."""

    @property
    def forward(self) -> Callable[[], object]:
        """One forward pass on the inputs made once; timed as it is."""

    @property
    def timer(self) -> Timer:
        """Times one call of ``forward`` in seconds."""

    def stamp(self) -> dict[str, Any]:
        """The runtime's own stamp: ``runtime``, versions, providers/precision, ``prepare_s``."""

    def layer_times(self, runs: int) -> ModuleTimes | None:
        """Per-module times over ``runs`` profiled forwards, or None if this runtime cannot say."""

    def close(self) -> None:
        """Free the runtime's session (idempotent)."""


class Runtime(Protocol):
    """A backend: availability, and ``prepare`` (export/compile/session, never timed)."""

    name: str
    extra: str  # the pip extra that installs it ("" for none)
    per_layer: str  # how it gives per-layer times, or "" when it cannot

    def missing(self) -> str:
        """"" when usable, else one line: ``not installed (pip install 'cspcost[onnx]')``."""

    def prepare(self, model: nn.Module, inputs: Sequence[torch.Tensor], options: RuntimeOptions) -> Prepared:
        """Make ``model`` runnable on ``inputs`` under this runtime (the caller's model is untouched)."""


@dataclass
class SimplePrepared:
    """A ``Prepared`` from plain parts, for runtimes without state to free."""

    forward: Callable[[], object]
    timer: Timer
    info: dict[str, Any] = field(default_factory=dict)
    layers: Callable[[int], ModuleTimes | None] | None = None
    closer: Callable[[], None] | None = None

    def stamp(self) -> dict[str, Any]:
        """The stamp given at construction."""
        return dict(self.info)

    def layer_times(self, runs: int) -> ModuleTimes | None:
        """The per-layer function given at construction, else None."""
        return self.layers(runs) if self.layers else None

    def close(self) -> None:
        """Run the closer once."""
        if self.closer:
            closer, self.closer = self.closer, None
            closer()
