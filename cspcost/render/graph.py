"""The dataflow graph as files: JSON (every node and edge) and Graphviz DOT (opens in any viewer).

No torch: a graph is plain data (``cspcost.walk.dataflow.Graph``). View ops (split, slice, reshape)
are drawn too; an edge carries the channel range read when it is not the whole tensor.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cspcost.errors import UsageError
from cspcost.jsondump import dumps

if TYPE_CHECKING:
    from cspcost.walk.dataflow import Graph


def graph_text(graph: Graph, path: str, roles: dict[int, str] | None = None) -> str:
    """The graph in the format ``path`` names: Graphviz DOT (``.dot``/``.gv``, nodes filled by CSP
    role when ``roles`` maps op index -> role) or JSON."""
    if path.endswith((".dot", ".gv")):
        return to_dot(graph, roles)
    if path.endswith(".json"):
        return to_json(graph)
    raise UsageError(f"--graph {path}: name a .json, .dot or .gv file (GraphML is not written)")


def to_json(graph: Graph) -> str:
    """The graph as indented JSON: ``inputs`` (shapes) and ``nodes`` with their input edges."""
    return dumps(graph.to_dict(), indent=1) + "\n"


def _label(node: Any) -> str:
    """A node's label: op, module, output shape."""
    shape = "x".join(map(str, node.out_shapes[0])) if node.out_shapes else ""
    return f"{node.index} {node.op.removeprefix('aten.')}\\n{node.module}\\n{shape}"


def to_dot(graph: Graph, roles: dict[int, str] | None = None) -> str:
    """Graphviz DOT, one node per op (filled by CSP role when ``roles`` maps op index -> role)."""
    colours = {"split": "#fdd0a2", "part1": "#c6dbef", "part2": "#fcbba1", "partial_transition": "#c7e9c0",
               "concat": "#dadaeb", "fusion_transition": "#a1d99b"}
    lines = ["digraph dataflow {", "  rankdir=TB;", '  node [shape=box, fontsize=9, style=filled, fillcolor="#ffffff"];']
    for k, shape in enumerate(graph.input_shapes):
        lines.append(f'  in{k} [label="input {k}\\n{"x".join(map(str, shape))}", shape=ellipse];')
    for node in graph.nodes:
        fill = colours.get((roles or {}).get(node.index, ""), "#ffffff")
        lines.append(f'  n{node.index} [label="{_label(node)}", fillcolor="{fill}"];')
        for ref in node.inputs:
            source = f"in{ref.out}" if ref.op < 0 else f"n{ref.op}"
            full = _channels(graph, ref)
            attr = "" if (ref.lo, ref.hi) == (0, full) else f' [label="{ref.lo}:{ref.hi}"]'
            lines.append(f"  {source} -> n{node.index}{attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _channels(graph: Graph, ref: Any) -> int:
    """Channels of the tensor an edge reads."""
    shape = graph.input_shapes[ref.out] if ref.op < 0 else graph.nodes[ref.op].out_shapes[ref.out]
    return shape[1] if len(shape) > 1 else 1
