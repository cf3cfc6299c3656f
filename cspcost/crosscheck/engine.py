"""``cspcost.peers``: build the model, capture it once, run every peer, predict and explain each number."""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from cspcost.crosscheck.predict import Prediction, layer_of, predict, sites
from cspcost.crosscheck.runners import META_CAPABLE, PEERS, PeerRun, run_peer
from cspcost.errors import (
    USER_CODE_FAILURES,
    CspcostError,
    MetaDeviceError,
    ModelLoadError,
    UnsupportedOpsWarning,
    UsageError,
    failure_text,
)
from cspcost.jsondump import dumps
from cspcost.shapes import check_shape
from cspcost.sources.record import DEFAULT_INPUT, Resolved
from cspcost.sources.resolve import build, resolve_model
from cspcost.walk.capture import Capture, capture
from cspcost.walk.conventions.counting import PEER_RULE_SETS, Site
from cspcost.walk.metrics import ROOT
from cspcost.walk.untouched import kept

__all__ = ["PeersResult", "peers"]
# thop counts functional products for the whole model only (its per-module tree has none of them)
_LAYERLESS = {"thop": "thop: functional"}


@dataclass
class PeersResult:
    """Each peer's own total beside cspcost's prediction of it, per model and per layer."""

    model: str
    input: list[int]  # with the batch dimension
    depth: int
    peers: list[dict[str, Any]]  # tool, version, unit, status, total, predicted, residual, why, error
    layers: list[dict[str, Any]] = field(default_factory=list)  # name, cspcost_macs, peers: [tool, total, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``cspcost peers --format json`` prints."""
        return {"model": self.model, "input": self.input, "depth": self.depth, "peers": self.peers,
                "layers": self.layers}

    def to_json(self, indent: int | None = 2) -> str:
        """The result as JSON."""
        return dumps(self.to_dict(), indent)


def peers(model_or_name: nn.Module | str, input_size: Sequence[int] | None = None, *, depth: int = 1,
          tools: Sequence[str] | None = None, seed: int = 0) -> PeersResult:
    """Run fvcore, ptflops (both backends), thop, FlopCounterMode and DeepSpeed on one model and input.

    Args:
        model_or_name: a spec (``timm:NAME``, ``torchvision:NAME``, ``ultralytics:NAME.yaml``, a zoo
            name, ``file.py:factory``), built on the CPU with seed ``seed``; or a module with real weights.
        input_size: (C, H, W); default: the model's own.
        depth: layer rows at this module depth (1 = top-level blocks).
        tools: a subset of the peers (default: all, missing ones listed as missing).
        seed: the seed the weights and the input are drawn with.
    Returns:
        A PeersResult: per peer its total, cspcost's prediction and the residual, with the rules that
        make it differ from cspcost's MACs; and the same per layer.
    Raises:
        UsageError: an unknown tool, a bad size, a module on meta, or weights that would not fit in memory.
    """
    chosen = _tools(tools)
    if depth < 1:
        raise UsageError(f"--depth must be at least 1, got {depth}")
    # the peers attach attributes and hooks and run real forwards: a user's module is restored after
    with kept(model_or_name):
        return _run(model_or_name, input_size, depth, chosen, seed)


def _run(model_or_name: nn.Module | str, input_size: Sequence[int] | None, depth: int, chosen: list[str],
         seed: int) -> PeersResult:
    """``peers`` once its arguments are checked."""
    name, meta_model, real, size = _models(model_or_name, input_size, seed)
    meta_model.eval()
    cap = _meta_capture(meta_model, size)
    model = real(cap.peak_activation_bytes)
    model.eval()
    found = sites(cap, model)
    _warn_unsupported(name, found)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((1, *size), generator=generator, dtype=_dtype(model))
    runs = [run_peer(tool, model, x) for tool in chosen]
    preds = {r.tool: predict(PEER_RULE_SETS[r.tool], r.unit, found, depth, _LAYERLESS.get(r.tool, ""))
             for r in runs if r.tool in PEER_RULE_SETS}
    rows = [_peer_row(r, preds.get(r.tool), found) for r in runs]
    return PeersResult(name, [1, *size], depth, rows, _layers(found, runs, preds, depth))


def _meta_capture(meta_model: nn.Module, size: tuple[int, ...]) -> Capture:
    """The one meta capture the predictions come from; a model that cannot run on meta is refused
    in one line (peers has no ``--device``: its peers run on the CPU, its predictions on meta)."""
    try:
        return capture(meta_model, [torch.empty((1, *size), device="meta")], "meta")
    except MetaDeviceError as exc:
        reason = str(exc).split("; the model cannot run on the meta device")[0]
        raise MetaDeviceError(f"{reason}; cspcost peers predicts each peer from a meta-device run, which this "
                              "model cannot do (cspcost analyze MODEL --device cpu still counts it)") from None


def _warn_unsupported(name: str, found: list[Site]) -> None:
    """One warning naming the ops no cspcost rule prices (their cspcost_macs count as 0)."""
    unsupported = Counter(site.event.op for site in found if site.cost.kind == "unsupported")
    if unsupported:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(unsupported.items()))
        warnings.warn(f"no cost rule for {listed} in {name}; cspcost_macs counts them as 0",
                      UnsupportedOpsWarning, stacklevel=4)


def _tools(tools: Sequence[str] | None) -> list[str]:
    """The peers asked for, validated, in their fixed order."""
    if tools is None:
        return list(PEERS)
    unknown = [t for t in tools if t not in PEERS]
    if unknown:
        raise UsageError(f"unknown peer {unknown[0]!r}; use {', '.join(PEERS)}")
    return [t for t in PEERS if t in tools]


def _dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating parameter (float32 if none)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def _models(model_or_name: nn.Module | str, input_size: Sequence[int] | None,
            seed: int) -> tuple[str, nn.Module, Callable[[int], nn.Module], tuple[int, ...]]:
    """Display name, a meta model to capture, a maker of the real CPU model (checked against memory), input size."""
    resolved = resolve_model(model_or_name)
    if isinstance(model_or_name, nn.Module):
        if any(p.is_meta for p in model_or_name.parameters()):
            raise UsageError("the model's weights are on meta; peers need real weights (pass a spec, or a CPU model)")
        return resolved.name, model_or_name, lambda peak: model_or_name, _size(input_size, resolved)
    meta_model = build(resolved)
    size = _size(input_size, resolved)

    def real(peak: int) -> nn.Module:
        _check_memory(resolved.name, meta_model, peak)
        torch.manual_seed(seed)
        try:
            with torch.device("cpu"):
                return resolved.factory()
        except CspcostError:  # a source's own one-line error: not wrapped a second time
            raise
        except USER_CODE_FAILURES as exc:  # the factory built on meta but fails (or exits) on the CPU
            raise ModelLoadError(f"building {resolved.name!r} failed: {failure_text(exc)}") from exc

    return resolved.name, meta_model, real, size


def _size(input_size: Sequence[int] | None, resolved: Resolved) -> tuple[int, ...]:
    """The validated (C, H, W): the caller's, else the model's own, else the default."""
    return check_shape(input_size or resolved.input_size or DEFAULT_INPUT)


def _available_bytes() -> int | None:
    """Memory the system can still give (MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _check_memory(name: str, meta_model: nn.Module, peak_activation_bytes: int) -> None:
    """Refuse, in one line, a model whose weights and activations would not fit in memory."""
    weights = sum(p.numel() * p.element_size() for p in meta_model.parameters())
    weights += sum(b.numel() * b.element_size() for b in meta_model.buffers())
    # NB: thop and ptflops keep no activations beyond a forward; 2x covers the trace fvcore makes
    need, free = weights + 2 * peak_activation_bytes, _available_bytes()
    if free is not None and need > free:
        raise UsageError(f"{name}: weights and activations need {need / 2**30:.1f} GiB but {free / 2**30:.1f} GiB "
                         f"is free; the peers need real weights on the CPU (on meta only "
                         f"{' and '.join(META_CAPABLE)} could still run: cspcost analyze predicts them)")


def _peer_row(run: PeerRun, pred: Prediction | None, found: list[Site]) -> dict[str, Any]:
    """One peer's JSON row."""
    status = "missing" if run.missing else "failed" if run.error else "ok"
    row: dict[str, Any] = {"tool": run.tool, "version": run.version, "unit": run.unit, "status": status,
                           "total": run.total, "predicted": pred.total if pred else None, "residual": None,
                           "why": [], "error": run.error}
    if pred is not None and run.total is not None:
        row["residual"] = run.total - pred.total
        row["why"] = pred.why + ([{"rule": "unexplained (residual)", "amount": row["residual"]}]
                                 if row["residual"] else [])
    row["cspcost_macs"] = sum(s.cost.macs for s in found)
    return row


def _layers(found: list[Site], runs: list[PeerRun], preds: dict[str, Prediction],
            depth: int) -> list[dict[str, Any]]:
    """Per layer at ``depth``: cspcost's MACs and, per peer, its own count, the prediction, the residual."""
    macs: dict[str, int] = {}
    for site in found:
        key = layer_of(site.event.module, depth)
        macs[key] = macs.get(key, 0) + site.cost.macs
    names = list(macs)
    rows = []
    for name in names:
        row: dict[str, Any] = {"name": name, "cspcost_macs": macs[name], "peers": []}
        for run in runs:
            pred = preds.get(run.tool)
            if pred is None or run.total is None:
                continue
            own = _own(run.by_module, name, names) if run.by_module is not None else None
            predicted = pred.by_layer.get(name, 0)
            row["peers"].append({"tool": run.tool, "total": own, "predicted": predicted,
                                 "residual": None if own is None else own - predicted})
        rows.append(row)
    return rows


def _own(by_module: dict[str, int], name: str, names: list[str]) -> int:
    """A layer's own count from a peer's cumulative per-module counts: its count less its sub-layers'."""
    path = "" if name == ROOT else name
    return _cumulative(by_module, path) - sum(_cumulative(by_module, n) for n in _direct(path, names))


def _direct(path: str, paths: list[str] | set[str]) -> list[str]:
    """The outermost of ``paths`` strictly inside ``path``."""
    inner = [n for n in paths if n and n != path and (path == "" or n.startswith(path + "."))]
    return [n for n in inner if not any(m != n and n.startswith(m + ".") for m in inner)]


def _cumulative(by_module: dict[str, int], path: str) -> int:
    """A module's cumulative count; a container the peer never saw run (a ModuleList) sums its children."""
    if path in by_module:
        return by_module[path]
    return sum(by_module[n] for n in _direct(path, set(by_module)))
