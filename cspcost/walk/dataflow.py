"""Dataflow: which earlier op produced each tensor an op reads, so a run is a graph of ops.

A tensor's producer is the op that wrote it. A view (split, chunk, slice, narrow) writes nothing;
reading it reads a range of its base's producer's output, which this module reads off the view's
offset and strides as a range of channels (dim 1). The recorder calls :meth:`Dataflow.record` once per op with its arguments and
outputs; nothing here prices anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from cspcost.walk.tensors import op_tensors

INPUT = -1  # the producer of the model's inputs


@dataclass(frozen=True, slots=True)
class Ref:
    """One tensor an op reads: output ``out`` of op ``op`` (INPUT: model input ``out``), channels [lo, hi)."""

    op: int
    out: int
    lo: int
    hi: int  # a view that is not a channel range (a reshape, a strided sample) spans every channel


class Dataflow:
    """Per op, the Refs of its tensor inputs, in argument order (parameters and constants omitted).

    Tensors are known by identity: every output is kept alive (so no id is reused), and its Ref
    made when it is written. A view op's outputs (found once per op name: they share the input's
    storage) point into what their input points into, with the channel range read off their offset.
    """

    def __init__(self) -> None:
        self.inputs: list[tuple[Ref, ...]] = []
        self._refs: dict[int, Ref] = {}
        self._keep: list[torch.Tensor] = []
        self._views: dict[str, bool] = {}  # op name -> whether its outputs alias its first input

    def sources(self, tensors: Any) -> None:
        """The model's inputs, produced by INPUT."""
        for k, t in enumerate(op_tensors(tensors)):
            self._refs[id(t)] = Ref(INPUT, k, 0, t.shape[1] if t.dim() > 1 else 1)
            self._keep.append(t)

    def _is_view(self, name: str, args: Any, outs: list[torch.Tensor]) -> bool:
        """Whether an op's outputs alias its first tensor input (checked once per op name)."""
        known = self._views.get(name)
        if known is None:
            first = next(op_tensors(args), None)
            known = self._views[name] = bool(outs) and first is not None and not name.endswith("_") and \
                outs[0].untyped_storage()._cdata == first.untyped_storage()._cdata
        return known

    def record(self, name: str, args: Any, out: Any) -> None:
        """One op: the producers of what it reads, then the Refs of what it writes."""
        step, refs_of = len(self.inputs), self._refs
        refs = tuple(r for r in (refs_of.get(id(t)) for t in op_tensors(args)) if r is not None)
        self.inputs.append(refs)
        outs = list(op_tensors(out))
        if self._is_view(name, args, outs):
            base = next(op_tensors(args))
            if id(base) in refs_of:  # a view of a parameter is no activation
                for t in outs:
                    refs_of[id(t)] = _range(t, base, refs_of[id(base)])
                    self._keep.append(t)
            return
        for k, t in enumerate(outs):
            refs_of[id(t)] = Ref(step, k, 0, t.shape[1] if t.dim() > 1 else 1)
            self._keep.append(t)


def _range(view: torch.Tensor, base: torch.Tensor, ref: Ref) -> Ref:
    """The channels of ``ref``'s tensor that ``view`` (a view of ``base``) reads: a channel slice
    keeps the base's strides and other dims; anything else (a reshape, a strided sample) reads all."""
    stride, bstride = view.stride(), base.stride()
    if view.dim() == base.dim() > 1 and stride == bstride and bstride[1] > 0 and view.shape[0] == base.shape[0] \
            and view.shape[2:] == base.shape[2:]:
        delta = view.storage_offset() - base.storage_offset()
        if delta % bstride[1] == 0:
            lo = ref.lo + delta // bstride[1]
            if ref.lo <= lo and lo + view.shape[1] <= ref.hi:
                return Ref(ref.op, ref.out, lo, lo + view.shape[1])
    return ref


@dataclass(frozen=True)
class Node:
    """One op of the graph: what it is, who ran it, what it read, what it wrote, what it cost."""

    index: int
    op: str  # e.g. "aten.conv2d"
    module: str  # dotted path of the innermost running module ("(root)" for the model's own forward)
    kind: str  # the cost rule's kind (conv, bn, act, eltwise, view, ...) or "unsupported"
    inputs: tuple[Ref, ...]
    out_shapes: tuple[tuple[int, ...], ...]
    flops: int = 0
    macs: int = 0
    cio_elems: int = 0
    kernel: tuple[int, ...] = ()  # a conv's kernel size (its weight's trailing dims)
    stride: tuple[int, ...] = ()  # a conv's stride
    dim: int | None = None  # a concatenation's dimension (non-negative)


@dataclass(frozen=True)
class Graph:
    """The run as a graph: nodes in execution order (an op's index is its position), the model's
    input shapes, and each module's parameters as the convention counts them."""

    nodes: list[Node]
    input_shapes: list[tuple[int, ...]]
    module_params: dict[str, int] = field(default_factory=dict)  # layer name -> params
    module_types: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: inputs, and per node its op, module, kind, output shapes, costs and input edges."""
        return {
            "inputs": [list(s) for s in self.input_shapes],
            "nodes": [{
                "index": n.index, "op": n.op, "module": n.module, "kind": n.kind,
                "out_shapes": [list(s) for s in n.out_shapes], "flops": n.flops, "cio_elems": n.cio_elems,
                "inputs": [{"op": r.op, "out": r.out, "channels": [r.lo, r.hi]} for r in n.inputs],
            } for n in self.nodes],
        }


def _conv_geometry(args: tuple[Any, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A conv event's kernel size (the weight's trailing dims) and stride (aten schema: arg 3)."""
    weight = args[1] if len(args) > 1 else None
    kernel = tuple(weight.shape[2:]) if hasattr(weight, "shape") else ()
    stride = args[3] if len(args) > 3 and isinstance(args[3], (list, tuple)) else (1,) * len(kernel)
    return kernel, tuple(stride)


def _cat_dim(ev: Any, shapes: tuple[tuple[int, ...], ...]) -> int:
    """The dimension an aten.cat joins along, made non-negative."""
    dim = ev.args[1] if len(ev.args) > 1 else ev.kwargs.get("dim", 0)
    return dim % len(shapes[0]) if shapes and shapes[0] else 0


def make_graph(events: list[Any], flow: list[tuple[Ref, ...]], ops: list[dict[str, Any]],
               params: dict[str, int], types: dict[str, str], input_shapes: list[tuple[int, ...]]) -> Graph:
    """The graph of a capture: one Node per event, with its priced op's kind and costs.

    Args:
        events: the captured OpEvents; flow: their input Refs (same order).
        ops: the priced op rows (``kind``, ``flops``, ``macs``, ``cio_elems``, ``module``).
        params: layer name -> params under the convention.
    """
    nodes = []
    for i, (ev, refs, op) in enumerate(zip(events, flow, ops)):
        kernel, stride = _conv_geometry(ev.args) if op["kind"] == "conv" else ((), ())
        shapes = tuple(t.shape for t in ev.outputs)
        nodes.append(Node(i, ev.op, op["module"], op["kind"], refs, shapes, op["flops"], op["macs"],
                          op["cio_elems"], kernel, stride, _cat_dim(ev, shapes) if ev.op == "aten.cat" else None))
    return Graph(nodes, list(input_shapes), params, types)
