"""Per-layer latency: time every aten op and charge it to the innermost module running it.

The attribution is the walker's own (``cspcost.capture``): the same forward pre/post hooks keep a
stack of running module paths, and a ``TorchDispatchMode`` sees every aten op. Here the mode reads
a clock just before and just after running each op, so a layer's time is the sum of its ops' times
and the layer names are exactly the walker's (a block's own add/concat is its own row; ops of the
model's own forward are ``(root)``).

Overhead: the Python work of the mode and the hooks (a few microseconds per op) happens outside the
clock readings, so it slows the instrumented run but is not charged to any layer; the model-level
latency is measured separately, without instrumentation. On CUDA each op is bracketed by CUDA
events instead of host clocks (no synchronisation per op); the run is synchronised once at its end.
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from cspcost.profiling.device import CudaStamps, HostStamps, device_layer
from cspcost.profiling.timing import Clock, PhaseProgress, time_calls
from cspcost.walk.capture import (
    module_stack,  # the walker's module tracking: same names by construction
)
from cspcost.walk.metrics import ROOT


@dataclass(frozen=True)
class LayerTimes:
    """Per-layer op time of each instrumented run, each run's wall time, and plain references."""

    per_run_s: dict[str, list[float]]  # layer name -> its op time in each run (0.0 if absent)
    wall_s: list[float]  # wall time of each instrumented run (hooks and mode included)
    op_counts: dict[str, int]  # ops timed per layer in one run
    reference_s: list[float] = field(default_factory=list)  # plain forwards, interleaved

    def run_totals_s(self) -> list[float]:
        """Each instrumented run's time summed over all layers."""
        return [sum(run) for run in zip(*self.per_run_s.values())]


class _OpTimer(TorchDispatchMode):
    """A dispatch mode that times each aten op and charges it to the running module."""

    def __init__(self, stack: list[str], stamps: HostStamps | CudaStamps) -> None:
        super().__init__()
        self.stack = stack
        self.stamps = stamps
        self.counts: dict[str, int] = defaultdict(int)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        """Run the op between two clock readings."""
        start = self.stamps.start()
        out = func(*args, **(kwargs or {}))
        layer = self.stack[-1] or ROOT
        self.stamps.stop(layer, start)
        self.counts[layer] += 1
        return out


def _one_run(model: nn.Module, inputs: Sequence[torch.Tensor], device: torch.device,
             clock: Clock, sync: Callable[[], None]) -> tuple[dict[str, float], float, dict[str, int]]:
    """One instrumented forward: seconds per layer, wall seconds, ops per layer."""
    stack: list[str] = [""]
    stamps = device_layer(device).op_stamps(clock)
    timer = _OpTimer(stack, stamps)
    sync()
    start = clock()
    with module_stack(model, stack), timer:
        model(*inputs)
    sync()
    wall = clock() - start
    return stamps.collect(), wall, dict(timer.counts)


def time_layers(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    runs: int,
    *,
    device: torch.device,
    sync: Callable[[], None],
    clock: Clock = time.perf_counter,
    progress: PhaseProgress | None = None,
    reference: Callable[[], object] | None = None,
) -> LayerTimes:
    """Time each layer's ops over ``runs`` instrumented forwards (after one untimed one).

    With ``reference`` (a plain forward), one timed plain forward precedes each instrumented
    one: on a shared machine both then see the same load, so their ratio is not skewed by a
    burst of other work that hit only one of them.

    Args:
        model: the model, in eval mode, on ``device``.
        inputs: the forward's inputs, already on ``device``.
        runs: instrumented forwards to time.
        device: where the model runs (CUDA uses events per op).
        sync: waits for queued device work.
        clock: seconds; injectable for tests.
        progress: called with ("layers", done, runs).
        reference: a plain (uninstrumented) forward to interleave, timed by ``clock``.
    Returns:
        Per-layer seconds in each run, each run's wall time, ops per layer, reference times.
    """
    _one_run(model, inputs, device, clock, sync)  # warm the instrumented path
    per_run: list[dict[str, float]] = []
    walls: list[float] = []
    counts: dict[str, int] = {}
    references: list[float] = []
    for i in range(runs):
        if reference is not None:
            references += time_calls(reference, 1, sync=sync, clock=clock)
        seconds, wall, counts = _one_run(model, inputs, device, clock, sync)
        per_run.append(seconds)
        walls.append(wall)
        if progress:
            progress("layers", i + 1, runs)
    names = list(dict.fromkeys(name for run in per_run for name in run))
    return LayerTimes({n: [run.get(n, 0.0) for run in per_run] for n in names}, walls, counts, references)
