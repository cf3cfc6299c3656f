"""The structure of a run: its cross-stage partial blocks, found in the dataflow graph and costed by role.

``graph`` (queries), ``detect`` (the patterns), ``roles`` (costs by role), ``dense`` (a dense part 2
against the paper's closed form). ``find_csp(result)`` is the entry point.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from cspcost.errors import UsageError
from cspcost.structure.dense import dense_check
from cspcost.structure.detect import ROLES, Found, find
from cspcost.structure.roles import role_costs, summary
from cspcost.walk.analysis import AnalysisResult
from cspcost.walk.dataflow import Graph

__all__ = ["ROLES", "Found", "blocks", "find", "find_csp", "layer_roles", "op_roles", "role_costs"]


def blocks(graph: Graph) -> list[dict[str, Any]]:
    """Every CSP block of a graph as a JSON-ready record (with ``dense_check`` where part 2 is dense)."""
    records = []
    for block in find(graph):
        record = summary(graph, block)
        check = dense_check(graph, block)
        if check is not None:
            record["dense_check"] = check
        records.append(record)
    return records


def find_csp(result: AnalysisResult) -> AnalysisResult:
    """The result with ``csp_blocks`` filled: every cross-stage partial block, in execution order.

    Raises:
        UsageError: the result carries no dataflow graph.
    """
    if result.graph is None:
        raise UsageError("this result has no dataflow graph; analyse the model with cspcost.analyze")
    return dataclasses.replace(result, csp_blocks=blocks(result.graph))


def op_roles(graph: Graph) -> dict[int, str]:
    """Op index -> its CSP role; a nested block's roles win over its parent's."""
    roles: dict[int, str] = {}
    for block in sorted(find(graph), key=lambda b: -len(b.ops)):
        for role, ops in block.roles.items():
            roles.update(dict.fromkeys(ops, role))
    return roles


def layer_roles(graph: Graph) -> dict[str, str]:
    """Layer (module) name -> the CSP role of its ops (the last op's, in execution order)."""
    return {graph.nodes[i].module: role for i, role in sorted(op_roles(graph).items())}
