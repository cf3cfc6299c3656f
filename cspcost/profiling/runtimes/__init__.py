"""Runtimes the profiler times a model under: eager PyTorch, torch.compile, ONNX Runtime, OpenVINO.

One registry, as ``cspcost.crosscheck``'s peers: ``RUNTIMES`` (``registry``) maps a name to a backend;
adding a runtime is one module calling ``registry.register`` and listed in ``_MODULES``. Each optional backend says in
one line what to install when it is absent.

Timing one callable under a runtime (what ``profile`` does, minus statistics)::

    import torch
    from cspcost.profiling.runtimes import RuntimeOptions, get_runtime

    runtime = get_runtime("onnxruntime")          # UsageError listing the known ones if unknown,
                                                  # or "not installed (pip install 'cspcost[onnx]')"
    model = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.randn(1, 64, 56, 56)
    prepared = runtime.prepare(model, [x], RuntimeOptions(torch.device("cpu"), threads=1))
    try:
        for _ in range(5):
            prepared.forward()                    # warm-up
        seconds = [prepared.timer(prepared.forward) for _ in range(30)]
        layers = prepared.layer_times(10)         # ModuleTimes or None
    finally:
        prepared.close()

Run it under ``torch.inference_mode()`` with ``torch.set_num_threads(threads)`` as the profiler
does (``session.open_bench`` and ``session.time_entry`` do all of this for a ``ProfileSpec``).
"""
from __future__ import annotations

import importlib

from cspcost.errors import MissingExtraError, UsageError
from cspcost.profiling.runtimes.base import ModuleTimes, Prepared, Runtime, RuntimeOptions, SimplePrepared
from cspcost.profiling.runtimes.registry import RUNTIMES, register

__all__ = ["RUNTIMES", "ModuleTimes", "Prepared", "Runtime", "RuntimeOptions", "SimplePrepared",
           "get_runtime", "parse_runtimes", "register"]

# The modules that register a runtime, in the order ``cspcost profile --help`` lists them.
_MODULES = ("eager", "compiled", "onnxrt", "ov")


def _load() -> None:
    """Import the backend modules in ``_MODULES`` order (each registers itself; optional packages are
    imported lazily, inside ``prepare``)."""
    for module in _MODULES:
        importlib.import_module(f"cspcost.profiling.runtimes.{module}")


def names() -> list[str]:
    """The known runtimes' names."""
    _load()
    return list(RUNTIMES)


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``, usable here; else a one-line UsageError (unknown, or not installed)."""
    _load()
    if name not in RUNTIMES:
        raise UsageError(f"unknown runtime {name!r}; known runtimes: {', '.join(RUNTIMES)}")
    runtime = RUNTIMES[name]
    missing = runtime.missing()
    if missing:
        raise MissingExtraError(f"runtime {name!r}: {missing}")
    return runtime


def parse_runtimes(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"eager,onnxruntime"`` (or a list) as validated names, duplicates refused."""
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v) for v in value]
    if not items or any(not v for v in items):
        raise UsageError(f"malformed runtime list {value!r}; e.g. eager,onnxruntime,openvino")
    if len(set(items)) != len(items):
        raise UsageError(f"runtime listed twice in {value!r}")
    _load()
    for item in items:
        if item not in RUNTIMES:
            raise UsageError(f"unknown runtime {item!r}; known runtimes: {', '.join(RUNTIMES)}")
    return items


_load()
