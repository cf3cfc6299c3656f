"""Find the cross-stage partial blocks of a run in its dataflow graph.

A block is a channel concatenation whose inputs split into two paths from one *base* tensor:

- part 1, a single input of the concat: the base's channels as they are (a channel split) or
  after one conv (with its norm, activation, pool); the other inputs are part 2;
- the base is divided either by a **channel split** (part 1 and part 2 read disjoint channel
  ranges of it: timm's CrossStage, C2f, C3k2, C2PSA, darknet's ``groups=2``) or by **two
  projections** (both paths open with a conv reading all of it: C3, C3k, the paper's cfgs);
- part 2 reads nothing but the base and its own ops (self-contained), never drops below the
  concat's resolution (a pyramid path goes down and comes back up), and carries at least one
  residual unit (``x + f(x)``), dense unit (``cat(x, f(x))``), nested block, or feeds the concat
  with a chain of its own intermediate outputs (C2f's and ELAN's aggregation).

Non-CSP joins fail one of these: a DenseNet or PeleeNet layer concatenates its whole input (neither
a split nor a projection), Inception branches carry no unit, a pyramid concat reads a level
directly (or goes below the concat's resolution), residual adds are no concat.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator

from cspcost.structure import graph as g
from cspcost.walk.dataflow import Graph, Node, Ref

ROLES = ("split", "part1", "part2", "partial_transition", "concat", "fusion_transition")
_MAX_PART1_OPS = 5  # conv, norm, activation, pool, copy


@dataclass
class Found:
    """One block: where it is, its structure, and the ops of each role (op indices)."""

    name: str  # the module that ran the concat (the block's owner)
    concat: int  # op index of the concat
    pattern: str  # "split" or "projection"
    c_part1: int  # channels part 1 takes from the base (split) or its projection writes
    c_part2: int
    part2_depth: int
    fusion: str  # "none", "first", "last" or "csp" (CSPNet Fig. 3)
    roles: dict[str, list[int]]
    units: list[tuple[str, str, list[int]]] = field(default_factory=list)  # (kind, module, joins) per part-2 unit
    parent: str | None = None
    base: Ref | None = None

    @property
    def gamma(self) -> Fraction:
        """The share of the base that part 2 receives."""
        return Fraction(self.c_part2, self.c_part1 + self.c_part2)

    @property
    def ops(self) -> set[int]:
        """Every op of the block."""
        return {i for ops in self.roles.values() for i in ops}


def find(graph: Graph) -> list[Found]:
    """Every cross-stage partial block, in execution order of their concats, parents named."""
    graph = g.without_copies(graph)
    users = g.consumers(graph)
    blocks: list[Found] = []
    for node in graph.nodes:
        if node.op == "aten.cat" and node.dim == 1 and len(node.inputs) >= 2 and len(node.out_shapes[0]) >= 3:
            block = _block_at(graph, users, node, blocks)
            if block is not None:
                blocks.append(block)
    for block in blocks:
        block.parent = _parent(block, blocks)
    return blocks


def _parent(block: Found, blocks: list[Found]) -> str | None:
    """The innermost other block whose part 2 holds this block's concat."""
    holders = [b for b in blocks if b is not block and block.concat in b.roles["part2"]]
    return min(holders, key=lambda b: len(b.roles["part2"])).name if holders else None


def _bases(graph: Graph, ref: Ref) -> Iterator[tuple[Ref, list[int]]]:
    """Candidate bases of part 1 read back from a concat input, nearest first, with part 1's ops."""
    ops: list[int] = []
    yield ref, []
    while ref.op >= 0 and g.whole(graph, ref) and len(ops) < _MAX_PART1_OPS:
        node = graph.nodes[ref.op]
        convs = sum(graph.nodes[i].kind == "conv" for i in ops) + (node.kind == "conv")
        if not g.is_short(node) or convs > 1:
            return
        ops.append(node.index)
        ref = node.inputs[0]
        yield ref, list(ops)


def _block_at(graph: Graph, users: list[list[int]], cat: Node, found: list[Found]) -> Found | None:
    """The block this concat closes, trying each input as part 1 (the first that fits)."""
    for j, first in enumerate(cat.inputs):
        others = [r for k, r in enumerate(cat.inputs) if k != j]
        for base, part1 in _bases(graph, first):
            block = _try(graph, users, cat, base, part1, others, found)
            if block is not None:
                return block
    return None


def _try(graph: Graph, users: list[list[int]], cat: Node, base: Ref, part1: list[int],
         others: list[Ref], found: list[Found]) -> Found | None:
    """The block with this base and part 1, or None if the structure does not fit."""
    full = Ref(base.op, base.out, 0, g.channels(graph, base))
    part2 = g.region(graph, others, full, frozenset(part1))
    if part2 is None or not part2.ops or not _keeps_resolution(graph, part2.ops | set(part1), cat):
        return None
    pattern = _pattern(graph, base, part1, part2)
    if pattern is None:
        return None
    widths = _widths(graph, base, part1, part2, pattern)
    nested = [b for b in found if b.concat in part2.ops]
    units = _units(graph, part2.ops, nested) or _plain_units(graph, cat, part2, others, pattern)
    depth = max(len(units), _aggregation(graph, others))
    if depth == 0:
        return None
    return _assemble(graph, users, cat, base, part1, part2, pattern, widths, units, depth)


def _pattern(graph: Graph, base: Ref, part1: list[int], part2: g.Region) -> str | None:
    """"split" (part 2 reads channels of the base part 1 does not), "projection" (both open with a
    conv reading the same channels), or None (a whole tensor taken as it is, overlapping reads)."""
    reads = [ref for _, ref in part2.reads]
    if all(ref.hi <= base.lo or ref.lo >= base.hi for ref in reads):
        return "split"
    readers = [graph.nodes[i] for i, _ in part2.reads if i >= 0]
    if part1 and graph.nodes[part1[-1]].kind == "conv" and len(readers) == len(reads) \
            and all(n.kind == "conv" for n in readers) and all((r.lo, r.hi) == (base.lo, base.hi) for r in reads):
        return "projection"
    return None


def _keeps_resolution(graph: Graph, ops: set[int], cat: Node) -> bool:
    """No conv, pool or resize on the paths writes a smaller map than the concat's (a pyramid path
    goes down and comes back up); a 1x1 map is global context (squeeze-excite), not a level."""
    floor = g.area(cat.out_shapes[0])
    sizes = [g.area(graph.nodes[i].out_shapes[0]) for i in ops
             if graph.nodes[i].kind in ("conv", "maxpool", "avgpool", "resize") and graph.nodes[i].out_shapes]
    return all(size == 1 or size >= floor for size in sizes)


def _widths(graph: Graph, base: Ref, part1: list[int], part2: g.Region, pattern: str) -> tuple[int, int]:
    """(part 1, part 2) channels: their shares of a split base, or the two projections' widths."""
    if pattern == "split":
        taken = set().union(*(range(ref.lo, ref.hi) for _, ref in part2.reads))
        return base.hi - base.lo, len(taken)
    readers = {i: graph.nodes[i] for i, _ in part2.reads}
    return graph.nodes[part1[-1]].out_shapes[0][1], sum(n.out_shapes[0][1] for n in readers.values())


def _units(graph: Graph, ops: frozenset[int], nested: list["Found"]) -> list[tuple[str, str, list[int]]]:
    """Part 2's units: residual adds and dense concats grouped by the module that ran them, and
    each directly nested block as one unit."""
    inner = set().union(*(b.ops for b in nested)) if nested else set()
    top = [b for b in nested if not any(b is not o and b.concat in o.ops for o in nested)]
    by_module: dict[str, tuple[str, str, list[int]]] = {}
    for i in sorted(ops - inner):
        node = graph.nodes[i]
        kind = "residual" if node.op in g.ADDS else "dense" if node.op == "aten.cat" else None
        if kind and _joins_an_ancestor(graph, node):
            by_module.setdefault(node.module, (kind, node.module, []))[2].append(i)
    units = list(by_module.values()) + [("csp", b.name, sorted(b.ops)) for b in top]
    return sorted(units, key=lambda unit: max(unit[2]))


def _plain_units(graph: Graph, cat: Node, part2: g.Region, others: list[Ref],
                 pattern: str) -> list[tuple[str, str, list[int]]]:
    """A part 2 with no residual or dense unit that is one chain of two or more convs, at least one
    beyond its projection and partial transition (C3 with shortcut=False, an inverted bottleneck
    without its skip): its convs grouped by the module one level inside the block. An Inception
    branch set is no chain (several readers of the base)."""
    if len(part2.reads) != 1 or len(others) != 1:
        return []
    readers = {i for i, _ in part2.reads} if pattern == "projection" else set()
    every = [i for i in sorted(part2.ops) if graph.nodes[i].kind == "conv"]
    convs = [i for i in every if i not in readers]
    if convs and g.is_pointwise_conv(graph.nodes[convs[-1]]):
        convs = convs[:-1]  # a 1x1 conv closing the chain is the partial transition, not a unit
    if not convs or len(every) < 2 or any(len(graph.nodes[i].inputs) != 1 for i in part2.ops):
        return []
    depth = 0 if cat.module == "(root)" else cat.module.count(".") + 1
    groups: dict[str, list[int]] = {}
    for i in convs:
        groups.setdefault(".".join(graph.nodes[i].module.split(".")[:depth + 2]), []).append(i)
    return [("plain", module, ops) for module, ops in groups.items()]


def _joins_an_ancestor(graph: Graph, node: Node) -> bool:
    """``x + f(x)`` or ``cat(x, f(x))``: one operand is an ancestor of another."""
    return any(a.op != b.op and b.op >= 0 and g.reaches(graph, b.op, a.op) for a in node.inputs for b in node.inputs)


def _aggregation(graph: Graph, others: list[Ref]) -> int:
    """Part 2 inputs of the concat that descend from an earlier one (C2f's chained outputs)."""
    refs = sorted(others, key=lambda r: r.op)
    return sum(any(g.reaches(graph, later.op, earlier.op) for earlier in refs[:k] if earlier.op >= 0)
               for k, later in enumerate(refs) if k)


def _assemble(graph: Graph, users: list[list[int]], cat: Node, base: Ref, part1: list[int],
              part2: g.Region, pattern: str, widths: tuple[int, int],
              units: list[tuple[str, str, list[int]]], depth: int) -> Found:
    """The block's roles: split, part 1, part 2, partial transition, concat, fusion transition."""
    split_ops = _split_ops(graph, users, base, cat, part2, pattern == "split")
    last_unit = max((max(ops) for _, _, ops in units), default=-1)
    partial = _partial_transition(graph, part2, last_unit, cat)
    fusion_ops = _fusion_transition(graph, users, cat)
    body = sorted(part2.ops - set(split_ops) - set(partial))
    roles = {"split": split_ops, "part1": sorted(part1), "part2": body, "partial_transition": partial,
             "concat": [cat.index], "fusion_transition": fusion_ops}
    fusion = {(True, True): "csp", (False, True): "first", (True, False): "last"}.get(
        (bool(partial), bool(fusion_ops)), "none")
    return Found(cat.module, cat.index, pattern, widths[0], widths[1], depth,
                 fusion, roles, units, base=base)


def _split_ops(graph: Graph, users: list[list[int]], base: Ref, cat: Node, part2: g.Region,
               split: bool) -> list[int]:
    """What divides the base: the views slicing it (split), or part 2's projection with its tail."""
    if split:
        if base.op < 0:
            return []
        return [i for i in users[base.op] if i < cat.index and graph.nodes[i].kind == "view"]
    ops: list[int] = []
    for reader, _ in part2.reads:
        ops += [reader, *g.tail(graph, users, reader)]
    return sorted(set(ops) & part2.ops)


def _partial_transition(graph: Graph, part2: g.Region, last_unit: int, cat: Node) -> list[int]:
    """A 1x1 conv (and its norm/activation) closing part 2 after its last unit, right before the concat."""
    inputs = [r for r in cat.inputs if r.op in part2.ops]
    if len(inputs) != 1:
        return []
    chain, i = [], inputs[0].op
    while graph.nodes[i].kind in g.TAIL_KINDS or graph.nodes[i].op in g.SHORT_COPIES:
        chain.append(i)
        i = graph.nodes[i].inputs[0].op
        if i not in part2.ops:
            return []
    if not g.is_pointwise_conv(graph.nodes[i]) or i <= last_unit:
        return []
    return sorted([i, *chain])


def _fusion_transition(graph: Graph, users: list[list[int]], cat: Node) -> list[int]:
    """A 1x1 conv (after at most one pool) reading the whole concat: the fusion transition.

    It belongs to the block when it runs inside the concat's module (every module, when the root
    module runs the concat: the model is the block). One outside it, the concat's only reader, must
    also feed the next stage: a 1x1 conv whose output only reaches the model's outputs (a classifier
    or detection head right after the concat) is a head, not a transition.
    """
    for user in users[cat.index]:
        node, pool = graph.nodes[user], []
        if node.kind in ("maxpool", "avgpool") and len(users[user]) == 1:
            pool, node = [user], graph.nodes[users[user][0]]
        owned = cat.module == "(root)" or node.module.startswith(cat.module + ".")
        if g.is_pointwise_conv(node) and (len(users[cat.index]) == 1 or owned) \
                and all(g.whole(graph, r) for r in node.inputs) \
                and (owned or g.feeds_weighted(graph, users, node.index)):
            return [*pool, node.index, *g.tail(graph, users, node.index)]
    return []
