"""One measurement, runtime-agnostic: load the models, prepare them under their runtimes, time them.

``open_bench(spec)`` builds every model of the spec (seed 0, on the device, at the dtype), checks it
with one eager forward, and prepares it under every runtime of the spec (export, compilation and
session creation happen here, never timed); inside the block the threads, the device context, eval
mode and ``inference_mode`` hold. ``time_entry`` warms one entry up and times it (``repeat`` calls or
a time budget); ``environment`` stamps the whole measurement.
"""
from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from cspcost.profiling.device import CpuDevice, device_layer, parse_dtype
from cspcost.profiling.environment import stamp
from cspcost.profiling.loading import first_forward, gc_paused, load_model
from cspcost.profiling.runtimes import get_runtime
from cspcost.profiling.runtimes.base import Prepared, RuntimeOptions
from cspcost.profiling.spec import ORT_LEVELS, ProfileSpec
from cspcost.profiling.timing import Clock, PhaseProgress, Timer, time_budget, time_calls
from cspcost.shapes import check_shape
from cspcost.threads import thread_count
from cspcost.walk.capture import eval_mode
from cspcost.walk.untouched import kept


@dataclass
class Entry:
    """One model prepared under one runtime."""

    name: str  # the model's display name
    runtime: str
    model: nn.Module
    sizes: list[tuple[int, ...]]  # (C, H, W) per input
    inputs: list[torch.Tensor]
    prepared: Prepared

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The first input's shape, with the batch dimension."""
        return tuple(self.inputs[0].shape)


@dataclass
class Bench:
    """Everything a measurement needs once the models are ready."""

    spec: ProfileSpec
    device: CpuDevice
    dtype: torch.dtype
    threads: int
    entries: list[Entry]

    def environment(self) -> dict[str, Any]:
        """The stamp: device, versions, threads, dtype, and each runtime's own fields."""
        env = stamp(self.device.device, self.threads, self.dtype)
        runtimes = {e.runtime: e.prepared.stamp() for e in self.entries}
        if len(self.entries) == 1:
            return {**env, **runtimes[self.entries[0].runtime]}
        # several entries: each one's own stamp (export, compile time, difference vs eager) in a list
        prepared = [{"model": e.name, **e.prepared.stamp()} for e in self.entries]
        shared = {k: v for stamp_ in runtimes.values() for k, v in stamp_.items()}  # versions, providers
        return {**env, **shared, "runtime": ",".join(runtimes), "prepared": prepared}


@contextmanager
def open_bench(spec: ProfileSpec, cache_dir: str | None = None) -> Iterator[Bench]:
    """Models built, checked and prepared under every runtime of ``spec``; closed on exit."""
    dev = device_layer(spec.device)
    dtype = parse_dtype(spec.dtype, dev.device)
    runtimes = [get_runtime(name) for name in spec.runtimes]  # unknown or missing: fail before building
    loaded = [load_model(m, spec.input_size, dev.device, dtype, spec.channels_last) for m in spec.models]
    for _, _, sizes in loaded:
        for size in sizes:
            check_shape(size, spec.batch)  # the batched input too, before anything is allocated
    with thread_count(spec.threads) as threads, dev.context(), ExitStack() as stack:
        for given in spec.models:
            stack.enter_context(kept(given))  # the user's modules come back as they were
        for _, model, _ in loaded:
            stack.enter_context(eval_mode(model))
        stack.enter_context(torch.inference_mode())
        options = RuntimeOptions(dev.device, threads, spec.precision, cache_dir, ORT_LEVELS[spec.ort_level])
        entries: list[Entry] = []
        stack.callback(_close_all, entries)
        for name, model, sizes in loaded:
            inputs = first_forward(model, sizes, spec.batch, dev.device, dtype, spec.channels_last)
            for runtime in runtimes:
                entries.append(Entry(name, runtime.name, model, sizes, inputs,
                                     runtime.prepare(model, inputs, options)))
        yield Bench(spec, dev, dtype, threads, entries)


def _close_all(entries: list[Entry]) -> None:
    """Close every prepared runtime session."""
    for entry in entries:
        entry.prepared.close()


def time_entry(entry: Entry, spec: ProfileSpec, timer: Timer | None = None,
               progress: PhaseProgress | None = None, clock: Clock = time.perf_counter) -> tuple[list[float], int]:
    """Warm up, then time forwards: (seconds per forward per sample, forwards per sample)."""
    forward = entry.prepared.forward
    measure = timer or entry.prepared.timer
    with gc_paused():
        # the checking first forward was the first warm-up call (with warmup 0: the only untimed one)
        time_calls(forward, max(spec.warmup - 1, 0), timer=measure, progress=progress, phase="warmup")
        if spec.min_time is not None:
            return time_budget(forward, spec.min_time, timer=measure, progress=progress)
        return time_calls(forward, spec.repeat, timer=measure, progress=progress), 1
