"""Run each peer FLOP counter on a real CPU model, in its own documented way, and read its numbers.

Each runner returns the peer's own total as it reports it and, where the peer exposes one, its
count per module path (cumulative: a module's count includes its children's).
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import io
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from cspcost.threads import thread_count


@dataclass(frozen=True)
class PeerRun:
    """One peer's answer: its total in its own unit and, if it has one, its per-module breakdown."""

    tool: str
    version: str
    unit: str  # "MACs" or "FLOPs", as the tool itself means its number
    total: int | None = None
    by_module: dict[str, int] | None = None  # module path ("" = root) -> cumulative count
    error: str = ""  # one line: why the peer could not run ("not installed: ..." when missing)

    @property
    def missing(self) -> bool:
        """True when the peer is not installed."""
        return self.error.startswith("not installed")


def _version(dist: str) -> str:
    """The installed version of a distribution, or "" when it is absent."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


def run_fvcore(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int]]:
    """fvcore: ``FlopCountAnalysis(model, x).total()`` and ``.by_module()``."""
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total()), {k: int(v) for k, v in analysis.by_module().items()}


def _ptflops(backend: str) -> Callable[[nn.Module, torch.Tensor], tuple[int, None]]:
    """ptflops: ``get_model_complexity_info(model, (C, H, W), backend=...)``; it prints its own errors."""
    def run(model: nn.Module, x: torch.Tensor) -> tuple[int, None]:
        from ptflops import get_model_complexity_info

        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
            macs, _ = get_model_complexity_info(model, tuple(x.shape[1:]), print_per_layer_stat=False,
                                                as_strings=False, backend=backend, ost=printed)
        if macs is None:  # ptflops catches the failure and prints it
            lines = [ln for ln in printed.getvalue().splitlines() if ln.startswith("<class")]
            raise RuntimeError(lines[0] if lines else "ptflops returned no count")
        return int(macs), None
    return run


def run_thop(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int]]:
    """thop (ultralytics-thop): ``profile(model, inputs=(x,), ret_layer_info=True)``."""
    from thop import profile

    with contextlib.redirect_stdout(io.StringIO()):
        ops, _, tree = profile(model, inputs=(x,), verbose=False, ret_layer_info=True)
    by_module = {"": int(ops)}

    def walk(prefix: str, children: dict) -> None:
        for name, (count, _, grandchildren) in children.items():
            path = f"{prefix}{name}"
            by_module[path] = int(count)
            walk(path + ".", grandchildren)

    walk("", tree)
    return int(ops), by_module


def run_flop_counter(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int]]:
    """torch: ``FlopCounterMode`` around one forward; per-module counts by its module tracker's names."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    root = type(model).__name__
    by_module = {"": counter.get_total_flops()}
    for name, per_op in counter.get_flop_counts().items():
        if name.startswith(root + "."):
            by_module[name[len(root) + 1:]] = int(sum(per_op.values()))
    return int(counter.get_total_flops()), by_module


def run_deepspeed(model: nn.Module, x: torch.Tensor) -> tuple[int, None]:
    """DeepSpeed: ``get_model_profile(model, args=[x])`` MACs."""
    from deepspeed.profiling.flops_profiler import get_model_profile

    with contextlib.redirect_stdout(io.StringIO()):
        _, macs, _ = get_model_profile(model, args=[x], print_profile=False, as_string=False)
    return int(macs), None


# tool -> (distribution, import name, unit, runner)
PEERS: dict[str, tuple[str, str, str, Callable[[nn.Module, torch.Tensor], tuple[int, dict[str, int] | None]]]] = {
    "fvcore": ("fvcore", "fvcore", "MACs", run_fvcore),
    "ptflops": ("ptflops", "ptflops", "MACs", _ptflops("pytorch")),
    "ptflops-aten": ("ptflops", "ptflops", "MACs", _ptflops("aten")),
    "thop": ("ultralytics-thop", "thop", "MACs", run_thop),
    "flopcountermode": ("torch", "torch", "FLOPs", run_flop_counter),
    "deepspeed": ("deepspeed", "deepspeed", "MACs", run_deepspeed),
}
# the peers that count through a dispatch mode (no kernels needed): they could run on meta
META_CAPABLE = ("flopcountermode", "ptflops-aten")


def installed(tool: str) -> bool:
    """True when the peer's module can be imported."""
    import importlib.util

    return importlib.util.find_spec(PEERS[tool][1]) is not None


def run_peer(tool: str, model: nn.Module, x: torch.Tensor) -> PeerRun:
    """Run one peer; a missing one or one that fails on the model is reported, not raised."""
    dist, module, unit, runner = PEERS[tool]
    if not installed(tool):
        return PeerRun(tool, "", unit, error=f"not installed (pip install {dist})")
    try:
        # Counts do not depend on threads; one thread keeps a small forward from spinning on a busy machine.
        with thread_count(1), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            total, by_module = runner(model, x)
    except Exception as exc:  # noqa: BLE001 - a peer failing on a model is a result, not a crash
        first = (str(exc).strip().splitlines() or [""])[0]
        return PeerRun(tool, _version(dist), unit, error=f"{type(exc).__name__}: {first}"[:300])
    return PeerRun(tool, _version(dist), unit, total, by_module)
