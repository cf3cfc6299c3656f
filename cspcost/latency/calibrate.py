"""Calibration: time each grid point under a runtime and fit every op class's costs.

For each point of the grid (``grid.py``) the tiny module is timed under the runtime (median of a
short block of runs) and captured on meta by the walker, which gives its features (``opclass``).
Two fixed costs are measured first, from chains of do-nothing modules: the cost of one forward
call (``run_overhead_s``: inference mode, the session call) and, in eager, of one ``nn.Module``
call (``module_call_s``: hooks, ``__call__``, the forward's Python); a point's op time is its
median minus them, and each class's coefficients are fitted on those times by non-negative least
squares in relative error (``fit.fit_relative``).
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from cspcost.latency import fit
from cspcost.latency.grid import Point, make_grid
from cspcost.latency.machine import ClassFit, MachineProfile, cpu_model, now_utc
from cspcost.latency.opclass import CLASSES, Work, classify, feature_row
from cspcost.latency.runtimes import Runtime, describe, make_runtime, random_inputs, time_runner, torch_threads, warm_allocator

CalibrationProgress = Callable[[int, int, str], None]  # (done, total, what)
TIMING: dict[str, dict[str, Any]] = {"default": {"min_runs": 5, "budget_s": 0.08}, "quick": {"min_runs": 2, "budget_s": 0.0, "warmup": 1}}
CHAIN = 16  # modules in the chain that measures per-call overhead
FLOOR_S = 2e-7  # an op time below this (noise after subtracting overheads) is clamped to it


def calibrate(runtime: str = "eager", threads: int = 1, grid: str = "default", *, seed: int = 0,
              progress: CalibrationProgress | None = None) -> MachineProfile:
    """Calibrate this machine for one runtime and thread count.

    Args:
        runtime: "eager", "onnxruntime" or "openvino".
        threads: CPU threads (torch intra-op threads, or ONNX Runtime's intra-op threads).
        grid: "default" (under three minutes) or "quick" (seconds; for tests and a first look).
        seed: the grid's shapes and the inputs' values.
        progress: called with (points done, points in all, the point's label).
    Returns:
        The calibrated MachineProfile (not yet saved).
    """
    rt = make_runtime(runtime, threads)
    points = make_grid(grid, seed)
    # One thread: the thread's CPU time, which other processes on a shared machine do not inflate
    # (the work runs on the calling thread); more threads: wall time.
    clock = time.thread_time if threads == 1 else time.perf_counter
    timing = {**TIMING["quick" if grid == "quick" else "default"], "clock": clock}
    warm_allocator()
    with torch_threads(threads):
        run_s, call_s = _fixed_costs(rt, timing)
        # A node's own time (``prepare_op``) holds no per-forward cost; a whole run's does.
        fixed = 0.0 if hasattr(rt, "prepare_op") else run_s + call_s
        samples: dict[str, list[Sample]] = defaultdict(list)
        for i, point in enumerate(points):
            name, features, work = _features(point, seed + i)
            seconds = _time_point(rt, point, seed + i, timing) - fixed
            samples[name].append(Sample(features, max(seconds, FLOOR_S), work))
            if progress:
                progress(i + 1, len(points), point.label)
    classes = {name: _fit_class(name, rows) for name, rows in sorted(samples.items())}
    peak, bandwidth = _ceilings(samples)
    stamp = {**describe(rt), "torch": torch.__version__, "cpu_model": cpu_model(),
             "clock": "thread_cpu" if threads == 1 else "wall",
             "cpu_count": __import__("os").cpu_count(), "cspcost": _cspcost_version(), "method": method_digest()}
    return MachineProfile("calibrated", rt.name, threads, cpu_model(), stamp, classes, run_s, call_s,
                          peak, bandwidth, now_utc(), grid)


@dataclass(frozen=True)
class Sample:
    """One timed calibration point: its features, op time (s) and the work of its first op."""

    features: list[float]
    seconds: float
    work: Work


def _features(point: Point, seed: int) -> tuple[str, list[float], Work]:
    """The class of the point's main op, its features (summed over that class's ops), its work."""
    from cspcost.walk.analysis import measure_rows

    torch.manual_seed(seed)
    measured = measure_rows(point.build(), inputs=[tuple(s) for s in point.shapes])
    classified = [classify(measured.capture.events[op["index"]], op) for op in measured.ops]
    main = next((name for name, _ in classified if name != "view"), "view")
    works = [work for name, work in classified if name == main]
    rows = np.array([feature_row(main, w) for w in works]).sum(axis=0)
    total = replace(works[0], flops=sum(w.flops for w in works), bytes=sum(w.bytes for w in works))
    return main, rows.tolist(), total


FLUSH_BYTES = 40 * 2**20  # written between timed runs: more than a server CPU's last-level cache
FLUSH_RUNS = 20  # timed runs per point (each after a flush)


def _time_point(rt: Runtime, point: Point, seed: int, timing: dict[str, Any]) -> float:
    """The point's median time under the runtime, in seconds, in a model's cache state.

    Timed alone in a loop, an op finds its weights and its output buffer in the cache, warmed by
    the run before; in a model its weights are read once per forward and its output lands in
    memory last touched long ago, while its input was just written by the layer before and the
    framework's code is hot. So before each timed run (untimed): a buffer larger than the
    last-level cache is written, a twin of the module (same shapes, other weights in memory) runs
    once and keeps its output, so the framework is warm while the timed module's weights and
    output slot stay cold, and the inputs are written afresh from a copy.
    """
    torch.manual_seed(seed)
    timed, twin = point.build().eval(), point.build().eval()
    inputs = random_inputs(point.shapes, seed)
    originals = [x.clone() for x in inputs]
    # A runtime that can time the op's own node (OpenVINO's counters) does; the others time it whole.
    prepare_op = getattr(rt, "prepare_op", rt.prepare)
    run, warm = prepare_op(timed, inputs), rt.prepare(twin, inputs)
    flush = torch.empty(FLUSH_BYTES // 4)
    held: list[object] = []

    def setup() -> None:
        held.clear()
        # torch's own pool stays at one thread under another runtime: its spinning workers would
        # take the cores ONNX Runtime's or OpenVINO's pool then runs on (2x slower at 2 threads).
        with nullcontext() if rt.name == "eager" else torch_threads(1):
            flush.fill_(1.0)
            held.append(warm())
            # The inputs written afresh, as the layer before would have: back in the cache, and an
            # in-place op (``relu_``) never runs on its own output (a leaky ReLU would otherwise
            # drive its negatives into subnormals, which are slow).
            for x, original in zip(inputs, originals):
                x.copy_(original)
    budget = {**timing, "min_runs": min(int(timing.get("min_runs", 5)), FLUSH_RUNS), "max_runs": FLUSH_RUNS}
    return time_runner(run, setup=setup, **budget)


def _fixed_costs(rt: Runtime, timing: dict[str, Any]) -> tuple[float, float]:
    """(per forward, per module call) seconds, from chains of 1 and CHAIN trivial modules.

    Eager chains ``nn.Identity`` (a module call, no aten op); ONNX Runtime has no module calls,
    so its chain is of one-element ReLUs and the per-node cost stays in each class's constant.
    """
    budget = {**timing, "budget_s": max(float(timing.get("budget_s", 0.0)), 0.02) * 3}
    x = random_inputs([(1, 8)])
    if rt.name == "eager":
        one = time_runner(rt.prepare(nn.Sequential(nn.Identity()), x), **budget)
        many = time_runner(rt.prepare(nn.Sequential(*[nn.Identity() for _ in range(CHAIN)]), x), **budget)
        call = max((many - one) / (CHAIN - 1), 0.0)
        return max(one - 2 * call, 0.0), call
    one = time_runner(rt.prepare(nn.Sequential(nn.ReLU()), x), **budget)
    many = time_runner(rt.prepare(nn.Sequential(*[nn.ReLU() for _ in range(CHAIN)]), x), **budget)
    node = max((many - one) / (CHAIN - 1), 0.0)
    return max(one - node, 0.0), 0.0


def _fit_class(name: str, rows: list[Sample]) -> ClassFit:
    """The class's coefficients, the median relative error on its own points, their residuals."""
    features = np.array([r.features for r in rows], dtype=float)
    times = np.array([r.seconds for r in rows], dtype=float)
    # Fewer than two points per feature (the quick grid): fit the fixed cost and the first feature
    # only; nine free costs on three points put 13x the time on a term the points barely reach.
    used = features.shape[1] if len(rows) >= 2 * features.shape[1] else min(2, features.shape[1])
    coef = np.zeros(features.shape[1])
    coef[:used] = fit.fit_relative(features[:, :used], times)
    fitted = np.maximum(features @ coef, 1e-12)
    errors = fit.abs_errors(fitted.tolist(), times.tolist())
    residuals = [[r.work.category, list(r.work.key), float(np.log(r.seconds / f))] for r, f in zip(rows, fitted)]
    return ClassFit(list(CLASSES[name].feature_names), [float(c) for c in coef], len(rows),
                    float(np.median(errors)) if len(errors) else 0.0, residuals)


def _ceilings(samples: dict[str, list[Sample]]) -> tuple[float, float]:
    """The best attained GFLOP/s (dense conv and matmul points of at least 0.1 GFLOP, where the
    fixed cost is small) and GB/s (memory-bound points of at least 4 MiB moved)."""
    # A sample at the clamp (a node OpenVINO runs in place, a concat it never executes) is no rate.
    compute = [s.work.flops / s.seconds / 1e9 for name in ("conv1x1", "convkxk", "matmul")
               for s in samples.get(name, []) if s.work.flops >= 1e8 and s.seconds > 1e-6]
    memory = [s.work.bytes / s.seconds / 1e9 for name in ("eltwise", "copy", "bn")
              for s in samples.get(name, []) if s.work.bytes >= 4 * 2**20 and s.seconds > 1e-6]
    return max(compute, default=0.0), max(memory, default=0.0)


METHOD_FILES = ("calibrate.py", "grid.py", "opclass.py", "fit.py", "runtimes.py")


def method_digest() -> str:
    """A digest of the code that decides what a calibration measures and fits (grid, features,
    timing, fit): a cached file made by other code is recalibrated, a given one warned about."""
    import hashlib
    from pathlib import Path

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in METHOD_FILES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:12]


def _cspcost_version() -> str:
    """This cspcost's version."""
    from cspcost import __version__

    return __version__
