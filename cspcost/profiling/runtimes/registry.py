"""The runtime registry: name -> backend (each backend module registers itself when imported)."""
from __future__ import annotations

from cspcost.profiling.runtimes.base import Runtime

RUNTIMES: dict[str, Runtime] = {}


def register(runtime: Runtime) -> Runtime:
    """Add a runtime to the registry (a second one of the same name is a bug)."""
    if runtime.name in RUNTIMES:
        raise ValueError(f"runtime {runtime.name!r} registered twice")
    RUNTIMES[runtime.name] = runtime
    return runtime
