"""The Python API, mirroring the CLI: ``cspcost.analyze(model_or_name, ...)``."""
from __future__ import annotations

import numbers
import platform
import warnings
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import pandas as pd
import torch
from torch import nn

from cspcost import __version__
from cspcost.errors import UnsupportedOpsWarning, UsageError, ValuesNeededWarning, unsupported_ops_text
from cspcost.jsondump import dumps
from cspcost.shapes import check_shape, check_sizes
from cspcost.sources.record import DEFAULT_INPUT, Resolved
from cspcost.sources.resolve import build, resolve_model
from cspcost.walk.capture import Capture, capture, check_device, make_inputs
from cspcost.walk.conventions import Convention, make_convention
from cspcost.walk.dataflow import Graph, make_graph
from cspcost.walk.metrics import ROOT, SUMMED_COLUMNS, aggregate, layer_rows, price_ops, to_frame, totals
from cspcost.walk.quantized import REASON as QUANTIZED_REASON
from cspcost.walk.quantized import is_quantized
from cspcost.walk.records import LayerRow, Totals

__all__ = ["AnalysisResult", "Measured", "analyze", "measure_rows"]


@dataclass
class AnalysisResult:
    """What ``analyze`` measured: totals, a per-layer DataFrame, unsupported ops, versions."""

    model: str
    input_shape: list[tuple[int, ...]]  # with the batch dimension
    convention: Convention
    totals: Totals
    layers: pd.DataFrame
    unsupported_ops: dict[str, int]
    ops: list[dict[str, Any]] = field(repr=False)  # every priced op, in execution order
    versions: dict[str, str] = field(default_factory=dict)
    bottleneck: tuple[str, int] = ("", 0)  # the heaviest single layer (before any --depth) and its FLOPs
    graph: Graph | None = field(default=None, repr=False)  # the dataflow: every op and its producers
    csp_blocks: list[dict[str, Any]] | None = field(default=None, repr=False)  # cspcost.structure.find_csp fills it

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: model, input_shape, convention, totals, layers, unsupported_ops, versions."""
        layers = self.layers.assign(out_shape=self.layers["out_shape"].map(list))
        return {
            "model": self.model,
            "input_shape": [list(s) for s in self.input_shape],
            "convention": self.convention.label(),
            "totals": self.totals,
            "layers": layers.to_dict(orient="records"),
            "unsupported_ops": self.unsupported_ops,
            "versions": self.versions,
            **({"csp_blocks": self.csp_blocks} if self.csp_blocks is not None else {}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The result as a JSON string (the same object ``--format json`` prints)."""
        return dumps(self.to_dict(), indent)

    # Queries, as fvcore's FlopCountAnalysis answers them (unsupported ops: the ``unsupported_ops`` field).
    def total(self, metric: str = "flops", module: str | None = None) -> int:
        """The model's total of ``metric`` (a ``totals`` key), or that of ``module`` and everything inside it."""
        if module is None:
            if metric not in self.totals:
                raise UsageError(f"no total {metric!r}; use {', '.join(self.totals)}")
            return int(self.totals[metric])  # type: ignore[literal-required]
        found = self.by_module(metric)
        if module not in found:
            raise UsageError(f"no module {module!r} in {self.model}; by_module() lists them")
        return found[module]

    def by_module(self, metric: str = "flops") -> dict[str, int]:
        """Every module path -> ``metric`` over it and its submodules ("" is the whole model)."""
        if metric not in SUMMED_COLUMNS:
            raise UsageError(f"no layer column {metric!r}; use {', '.join(SUMMED_COLUMNS)}")
        found: dict[str, int] = defaultdict(int)
        for name, value in zip(self.layers["name"], self.layers[metric]):
            parts = [] if name == ROOT else name.split(".")
            for i in range(len(parts) + 1):
                found[".".join(parts[:i])] += int(value)
        return dict(found)

    def by_operator(self, metric: str = "flops") -> dict[str, int]:
        """Every aten op -> ``metric`` over all its calls, as the result's convention counts them."""
        if not self.ops or metric not in self.ops[0]:
            raise UsageError(f"no op column {metric!r}; use macs, flops, cio_elems, out_elems, bytes_read, bytes_written")
        found: dict[str, int] = defaultdict(int)
        for op in self.ops:
            found[op["op"]] += int(op[metric])
        return dict(found)


def analyze(
    model_or_name: nn.Module | str,
    input_size: Sequence[int] | Sequence[Sequence[int]] | None = None,
    batch: int = 1,
    *,
    inputs: Sequence[Any] | dict[str, Any] | None = None,
    device: str = "meta",
    convention: str = "pytorch",
    cio: str | None = None,
    fuse_bn: bool = False,
    shortcut_flops: bool = False,
    strict: bool = False,
    depth: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> AnalysisResult:
    """Measure a model's MACs, FLOPs, params, CIO and bytes per layer, without running kernels.

    Args:
        model_or_name: an ``nn.Module`` (it comes back exactly as it was), a zoo name, or
            ``path/file.py:factory`` / ``package.module:factory``.
        input_size: (C, H, W) without batch, or a list of such shapes for several inputs; default:
            the zoo model's own (or a module's ``input_size`` attribute), else (3, 224, 224).
        batch: batch size prepended to every input.
        inputs: the forward's positional arguments instead of ``input_size``: tensors (re-made on
            ``device``), shapes (a tensor of exactly that shape, no batch added), or lists,
            tuples and dicts of them (a list of images for torchvision detection:
            ``inputs=[[(3, 320, 320)]]``); a dict at the top gives keyword arguments.
        device: "meta" (default: no allocation, no kernels), "cpu" or "cuda".
        convention: "pytorch" (every op and parameter), "darknet" (as the CSPNet paper counted),
            or "torchvision", "timm", "ultralytics" (the numbers those ecosystems publish; see
            ``cspcost conventions``).
        cio: "hardnet" (conv layers, HarDNet's definition), "hardnet-fc" (conv + FC as 1x1 conv)
            or "cspnet" (also pools, the CSPNet paper's Fig. 8); default by convention.
        fuse_bn: treat BN right after a conv as folded into it.
        shortcut_flops: darknet 2020+ counting: each darknet ``Shortcut`` layer costs one add per
            output element per added layer (off by default, as the paper counted).
        strict: raise UnsupportedOpsError if any op has no cost rule (otherwise one
            UnsupportedOpsWarning per call names them).
        depth: aggregate the layer table at this module depth (None: executing modules).
        dtype: input dtype.
    Returns:
        An AnalysisResult with ``.totals``, ``.layers`` (DataFrame) and ``.to_json()``.
    """
    if depth is not None and depth < 0:
        raise UsageError(f"depth must be 0 or more, got {depth}")
    measured = measure_rows(model_or_name, input_size, batch, inputs=inputs, device=device,
                            convention=make_convention(convention, cio, fuse_bn, shortcut_flops),
                            strict=strict, dtype=dtype)
    cap = measured.capture
    frame = to_frame(aggregate(measured.rows, depth, cap.module_types, cap.module_calls), measured.totals)
    return AnalysisResult(measured.name, measured.capture.input_shapes, measured.convention, measured.totals,
                          frame, measured.unsupported, measured.ops, _versions(), _bottleneck(measured.rows),
                          _graph(measured))


@dataclass(frozen=True)
class Measured:
    """The walker's raw output for one model: priced ops, layer rows and totals (no DataFrame)."""

    name: str
    capture: Capture
    convention: Convention
    ops: list[dict[str, Any]]
    rows: list[LayerRow]
    totals: Totals
    unsupported: dict[str, int]


def measure_rows(
    model_or_name: nn.Module | str, input_size: Sequence[Any] | None = None, batch: int = 1, *,
    inputs: Sequence[Any] | dict[str, Any] | None = None, device: str = "meta",
    convention: Convention | None = None, strict: bool = False, dtype: torch.dtype = torch.float32,
) -> Measured:
    """``analyze`` without the DataFrame: for callers that measure many small models (the
    closed-form sweep). Arguments as ``analyze``'s."""
    conv = convention or make_convention()
    if batch < 1:
        raise UsageError(f"batch must be at least 1, got {batch}")
    resolved = resolve_model(model_or_name)
    name, model = resolved.name, build(resolved)
    resolved = _quantized_to_cpu(resolved, model)
    if inputs is None and input_size is None and resolved.inputs is not None:
        inputs = resolved.inputs()
    device = _needed_device(resolved, device)
    dev = check_device(device)
    args, kwargs = _inputs(inputs, input_size or resolved.input_size or DEFAULT_INPUT, batch, dev, dtype)
    cap = capture(conv.prepare(model), args, device, kwargs)
    ops, unsupported = price_ops(cap, conv, strict)
    _warn_unsupported(name, unsupported)
    rows = layer_rows(ops, cap, conv)
    return Measured(name, cap, conv, ops, rows, totals(rows, cap), unsupported)


def _graph(measured: Measured) -> Graph:
    """The dataflow graph of a measurement, each module's params as its convention counts them."""
    cap = measured.capture
    params = {row["name"]: int(row["params"]) for row in measured.rows}
    return make_graph(cap.events, cap.flow, measured.ops, params, cap.module_types, cap.input_shapes)


def _bottleneck(rows: list[LayerRow]) -> tuple[str, int]:
    """The computational bottleneck (paper, Fig. 7): the layer with the largest FLOPs."""
    heaviest = max(rows, key=lambda row: row["flops"], default=None)
    return ("", 0) if heaviest is None else (heaviest["name"], int(heaviest["flops"]))


def _quantized_to_cpu(resolved: Resolved, model: nn.Module) -> Resolved:
    """A torch.ao quantized model (its own or a user's) needs the CPU: no meta kernels exist for it."""
    if resolved.device is None and is_quantized(model):
        return replace(resolved, device="cpu", reason=QUANTIZED_REASON)
    return resolved


def _needed_device(resolved: Resolved, device: str) -> str:
    """The device to run on: a model that needs values leaves the default meta for its own, saying so."""
    if device != "meta" or resolved.device in (None, "meta"):
        return device
    warnings.warn(f"{resolved.name} runs on the {resolved.device}, not meta: {resolved.reason}",
                  ValuesNeededWarning, stacklevel=4)
    return resolved.device


def _warn_unsupported(name: str, unsupported: dict[str, int]) -> None:
    """One warning per analysis naming every op no rule prices (the CLI prints it as one line)."""
    if unsupported:
        warnings.warn(unsupported_ops_text(name, unsupported), UnsupportedOpsWarning, stacklevel=4)


def _inputs(
    inputs: Sequence[Any] | dict[str, Any] | None,
    size: Sequence[Any],
    batch: int,
    dev: torch.device,
    dtype: torch.dtype,
) -> tuple[list[Any], dict[str, Any]]:
    """The forward's positional and keyword arguments on ``dev``, made before (outside) the recording."""
    if inputs is not None:
        if isinstance(inputs, dict):
            return [], _remade(inputs, dev, dtype)
        return [_remade(x, dev, dtype) for x in inputs], {}
    return make_inputs(check_sizes(size, batch), batch, dev, dtype), {}


def _is_shape(x: Any) -> bool:
    """A tuple, list or torch.Size of integers only (numpy's too): a shape, not a list of inputs."""
    return isinstance(x, (tuple, list)) and bool(x) and all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in x)


def _remade(x: Any, dev: torch.device, dtype: torch.dtype) -> Any:
    """A nested input with every tensor re-made on ``dev`` and every shape made a tensor there."""
    if isinstance(x, torch.Tensor):
        return torch.empty_like(x, device=dev) if x.device != dev else x
    if _is_shape(x):
        shape = check_shape(x)
        return make_inputs([shape[1:]], shape[0], dev, dtype)[0]
    if isinstance(x, dict):
        return {k: _remade(v, dev, dtype) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        items = [_remade(v, dev, dtype) for v in x]
        return items if isinstance(x, list) else tuple(items)
    return x


def _versions() -> dict[str, str]:
    """Versions that shaped the numbers."""
    return {"cspcost": __version__, "torch": torch.__version__, "python": platform.python_version()}


