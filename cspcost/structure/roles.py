"""Cost a block by role: FLOPs, params and CIO of its split, part 1, part 2, transitions and concat.

FLOPs and CIO are the priced ops' own (so a block's roles add up to what the layer table holds for
the same ops). Params belong to modules, not ops: a module's parameters go to the role of its first
op in the block, once, as the convention counts them (conv weights only under darknet).
"""
from __future__ import annotations

from typing import Any

from cspcost.structure.detect import ROLES, Found
from cspcost.walk.dataflow import Graph
from cspcost.walk.records import METRICS


def role_costs(graph: Graph, block: Found) -> dict[str, dict[str, int]]:
    """Role -> {flops, params, cio_elems}, every role present (zero when the block has none)."""
    seen: set[str] = set()
    costs: dict[str, dict[str, int]] = {}
    for role in ROLES:
        ops = [graph.nodes[i] for i in sorted(block.roles[role])]
        modules = [m for m in dict.fromkeys(n.module for n in ops) if m not in seen]
        seen.update(modules)
        costs[role] = {"flops": sum(n.flops for n in ops),
                       "params": sum(graph.module_params.get(m, 0) for m in modules),
                       "cio_elems": sum(n.cio_elems for n in ops)}
    return costs


def role_totals(costs: dict[str, dict[str, int]]) -> dict[str, int]:
    """A block's totals: its roles summed."""
    return {key: sum(role[key] for role in costs.values()) for key in METRICS}


def summary(graph: Graph, block: Found) -> dict[str, Any]:
    """The JSON record of a block: name, parent, gamma, depth, fusion, totals and roles."""
    costs = role_costs(graph, block)
    return {"name": block.name, "parent": block.parent, "gamma": float(block.gamma),
            "gamma_fraction": f"{block.gamma.numerator}/{block.gamma.denominator}",
            "pattern": block.pattern, "part2_depth": block.part2_depth, "fusion": block.fusion,
            **role_totals(costs), "roles": costs}
