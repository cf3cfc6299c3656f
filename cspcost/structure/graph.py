"""Queries on the dataflow graph: consumers, channel widths, ancestry, the region between two tensors.

Ops are numbered in execution order, so every producer has a smaller index than its consumers:
a backward search can stop at the first index below the tensor it looks for.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Iterable

from cspcost.walk.dataflow import INPUT, Graph, Node, Ref

# Ops a short path may hold (part 1, a transition's tail): one tensor in, one out, no joins.
SHORT_KINDS = frozenset({"conv", "bn", "norm", "act", "maxpool", "avgpool"})
SHORT_COPIES = frozenset({"aten.clone", "aten.contiguous", "aten._to_copy"})
TAIL_KINDS = frozenset({"bn", "norm", "act"})  # what follows a conv inside a conv-norm-act unit
ADDS = frozenset({"aten.add", "aten.add_"})


def consumers(graph: Graph) -> list[list[int]]:
    """For each op, the ops that read one of its outputs, in order."""
    users: list[list[int]] = [[] for _ in graph.nodes]
    for node in graph.nodes:
        for ref in node.inputs:
            if ref.op >= 0 and (not users[ref.op] or users[ref.op][-1] != node.index):
                users[ref.op].append(node.index)
    return users


def out_shape(graph: Graph, ref: Ref) -> tuple[int, ...]:
    """The full shape of the tensor ``ref`` points into."""
    if ref.op == INPUT:
        return tuple(graph.input_shapes[ref.out])
    shapes = graph.nodes[ref.op].out_shapes
    return tuple(shapes[ref.out]) if ref.out < len(shapes) else ()


def channels(graph: Graph, ref: Ref) -> int:
    """Channels (dim 1) of the whole tensor ``ref`` points into."""
    shape = out_shape(graph, ref)
    return shape[1] if len(shape) > 1 else 1


def whole(graph: Graph, ref: Ref) -> bool:
    """Whether ``ref`` reads every channel of its tensor."""
    return ref.lo == 0 and ref.hi == channels(graph, ref)


def area(shape: Iterable[int]) -> int:
    """Spatial size (product of the dims after N and C)."""
    return prod(tuple(shape)[2:])


def is_short(node: Node) -> bool:
    """An op a short path may hold: conv, norm, activation, pool or a copy, with one tensor input."""
    return (node.kind in SHORT_KINDS or node.op in SHORT_COPIES) and len(node.inputs) == 1


def is_pointwise_conv(node: Node) -> bool:
    """A 1x1, stride-1 convolution (the paper's transition layers)."""
    return node.kind == "conv" and bool(node.kernel) and all(k == 1 for k in node.kernel) \
        and all(s == 1 for s in node.stride)


def same(a: Ref, b: Ref) -> bool:
    """Whether two refs point into the same tensor."""
    return a.op == b.op and a.out == b.out


def reaches(graph: Graph, start: int, target: int) -> bool:
    """Whether op ``target``'s output is an ancestor of op ``start`` (or ``start`` itself)."""
    seen, todo = set(), [start]
    while todo:
        i = todo.pop()
        if i == target:
            return True
        if i < target or i < 0 or i in seen:
            continue
        seen.add(i)
        todo.extend(r.op for r in graph.nodes[i].inputs)
    return False


@dataclass(frozen=True)
class Region:
    """The ops strictly between a base tensor and a set of tensors, and how they read the base."""

    ops: frozenset[int]
    reads: tuple[tuple[int, Ref], ...]  # (reading op, or -2 for a direct read by the caller), ref into base


def region(graph: Graph, starts: Iterable[Ref], base: Ref, forbidden: frozenset[int]) -> Region | None:
    """The ops that lead from ``base`` to ``starts``, if they read nothing else.

    None when any of them reads a tensor made before ``base``'s producer (another input), reaches
    a ``forbidden`` op, or is unknown: the region must be self-contained.
    """
    ops: set[int] = set()
    reads: list[tuple[int, Ref]] = []
    todo = [(-2, ref) for ref in starts]
    while todo:
        reader, ref = todo.pop()
        if same(ref, base):
            reads.append((reader, ref))
        elif ref.op <= base.op or ref.op in forbidden:
            return None
        elif ref.op not in ops:
            ops.add(ref.op)
            todo.extend((ref.op, r) for r in graph.nodes[ref.op].inputs)
    return Region(frozenset(ops), tuple(sorted(reads, key=lambda item: item[0])))


def tail(graph: Graph, users: list[list[int]], start: int) -> list[int]:
    """The norm/activation ops that follow op ``start`` one after another (conv -> bn -> act)."""
    chain, i = [], start
    while len(users[i]) == 1 and graph.nodes[users[i][0]].kind in TAIL_KINDS \
            and len(graph.nodes[users[i][0]].inputs) == 1:
        i = users[i][0]
        chain.append(i)
    return chain


WEIGHTED_KINDS = frozenset({"conv", "linear", "matmul"})


def feeds_weighted(graph: Graph, users: list[list[int]], start: int) -> bool:
    """Whether a conv, linear or matmul reads op ``start``'s output, directly or through any ops.

    A transition feeds the next stage; a head (a classifier, a detection head) only feeds the
    model's outputs, through pools, reshapes and activations at most.
    """
    seen, todo = set(), list(users[start])
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        if graph.nodes[i].kind in WEIGHTED_KINDS:
            return True
        seen.add(i)
        todo.extend(users[i])
    return False


def _is_copy(node: Node) -> bool:
    """An op that only copies one tensor: a one-input concat (darknet's single-layer route), a clone."""
    return len(node.inputs) == 1 and (node.op in SHORT_COPIES or node.op == "aten.cat")


def without_copies(graph: Graph) -> Graph:
    """The graph with every read of a copy redirected to what it copied (channel ranges composed),
    so darknet's ``[route] layers=-2`` and ``groups=2`` read the base as PyTorch's split does."""
    from dataclasses import replace

    nodes: list[Node] = []
    for node in graph.nodes:
        refs = []
        for ref in node.inputs:
            source = nodes[ref.op] if ref.op >= 0 else None
            if source is not None and _is_copy(source):
                inner = source.inputs[0]
                ref = Ref(inner.op, inner.out, inner.lo + ref.lo, inner.lo + ref.hi)
            refs.append(ref)
        nodes.append(replace(node, inputs=tuple(refs)))
    return replace(graph, nodes=nodes)
