"""A block whose part 2 is a dense block, held against the paper's closed form (Sec. 3.1).

The formula (``cspcost.formulas.closed.general_dense_cio``, generalised to the detected gamma)
assumes: each dense layer is one conv reading the running concatenation, a constant growth d, a
constant w x h, nothing else on part 2. Each assumption the block breaks is named.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from cspcost.formulas.closed import general_dense_cio
from cspcost.structure import graph as g
from cspcost.structure.detect import Found
from cspcost.walk.dataflow import Graph


def _growth(graph: Graph, cat: int) -> int:
    """Channels a dense layer adds: its concatenation's width minus its oldest input's."""
    node = graph.nodes[cat]
    oldest = min(node.inputs, key=lambda r: r.op)
    return node.out_shapes[0][1] - (oldest.hi - oldest.lo)


def _convs_in(graph: Graph, ops: list[int], module: str) -> int:
    """Convs of part 2 run inside a unit's module."""
    return sum(graph.nodes[i].kind == "conv" and graph.nodes[i].module.startswith(module + ".") for i in ops)


def dense_check(graph: Graph, block: Found) -> dict[str, Any] | None:
    """Measured part-2 CIO vs ``w*h*(gamma*c*m + (m^2 + m)*d/2)``; None unless part 2 is dense units."""
    units = block.units
    if not units or any(kind != "dense" for kind, _, _ in units):
        return None
    part2 = block.roles["part2"]
    growths = [_growth(graph, joins[-1]) for _, _, joins in units]
    base = g.out_shape(graph, block.base) if block.base is not None else ()
    w, h = (base[-1], base[-2]) if len(base) >= 4 else (1, 1)
    c, d, m, gamma = block.c_part1 + block.c_part2, growths[0], len(units), block.gamma
    formula = general_dense_cio(c, d, m, w, h, Fraction(gamma))
    measured = sum(graph.nodes[i].cio_elems for i in part2)
    convs = [_convs_in(graph, part2, module) for _, module, _ in units]
    differs = []
    if any(n != 1 for n in convs):
        differs.append(f"each dense layer is one conv (here {max(convs)}: the inner convs write and read "
                       "their own tensors too)")
    if len(set(growths)) > 1:
        differs.append(f"constant growth d (here {min(growths)}..{max(growths)})")
    if any(graph.nodes[i].kind in ("conv", "maxpool", "avgpool") and g.area(graph.nodes[i].out_shapes[0]) != w * h
           for i in part2):
        differs.append("constant w x h (part 2 changes resolution)")
    if block.pattern == "projection":
        differs.append("part 2 is a channel slice (here a projection conv, costed as the split)")
    return {"c": c, "d": d, "m": m, "w": w, "h": h, "gamma": float(gamma),
            "formula_cio": int(formula) if Fraction(formula).denominator == 1 else float(formula),
            "measured_cio": measured,
            "difference_pct": 100.0 * (measured / float(formula) - 1.0) if formula else 0.0,
            "assumptions_differ": differs}
