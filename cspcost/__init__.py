"""cspcost: what a CNN really costs, layer by layer (MACs, FLOPs, params, CIO, bytes)."""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# The public API lives in cspcost.api; it is loaded on first use so that `import cspcost`
# (and `cspcost --help`) stays fast and never imports torch.
_LAZY = {"analyze", "AnalysisResult", "list_models", "models_table"}
# Names of other torch-backed modules, loaded the same way: name -> module.
_LAZY_FROM = {"profile": "profiler", "ProfileResult": "latency", "measure_peaks": "peaks",
              "DevicePeaks": "peaks"}


def __getattr__(name: str) -> Any:
    """Load the torch-backed API on first access."""
    if name in _LAZY:
        from . import api

        return getattr(api, name)
    if name in _LAZY_FROM:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY_FROM[name]}", __name__), name)
    raise AttributeError(f"module 'cspcost' has no attribute {name!r}")
