"""cspcost: what a CNN really costs, layer by layer (MACs, FLOPs, params, CIO, bytes)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public API (mirroring the CLI) lives in torch-backed modules, loaded on first use so that
# `import cspcost` (and `cspcost --help`) stays fast and never imports torch: name -> module.
_LAZY = {
    "analyze": "walk.analysis", "AnalysisResult": "walk.analysis", "list_models": "sources",
    "models_table": "api", "measure": "api", "check_budgets": "api",
    "find_csp": "structure", "compare": "comparison.engine", "Comparison": "comparison.engine",
    "profile": "profiling.run", "ProfileResult": "profiling.result",
    "paired": "profiling.paired", "PairedResult": "profiling.paired_result",
    "measure_peaks": "profiling.peaks", "DevicePeaks": "profiling.peaks",
    "peers": "crosscheck.engine", "PeersResult": "crosscheck.engine",
    "calibrate": "latency.api", "predict": "latency.api", "explain": "latency.api",
    "Prediction": "latency.predict", "Explanation": "latency.explain", "MachineProfile": "latency.machine",
    "write_html": "render.html",
}


if TYPE_CHECKING:  # the same names, typed for checkers and IDEs (never imported at run time here)
    from cspcost.api import check_budgets, measure, models_table
    from cspcost.comparison.engine import Comparison, compare
    from cspcost.crosscheck.engine import PeersResult, peers
    from cspcost.latency.api import calibrate, explain, predict
    from cspcost.latency.explain import Explanation
    from cspcost.latency.machine import MachineProfile
    from cspcost.latency.predict import Prediction
    from cspcost.profiling.paired import paired
    from cspcost.profiling.paired_result import PairedResult
    from cspcost.profiling.peaks import DevicePeaks, measure_peaks
    from cspcost.profiling.result import ProfileResult
    from cspcost.profiling.run import profile
    from cspcost.render.html import write_html
    from cspcost.sources import list_models
    from cspcost.structure import find_csp
    from cspcost.walk.analysis import AnalysisResult, analyze

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Load the torch-backed API on first access."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'cspcost' has no attribute {name!r}")
