"""ONNX nodes back to module paths, through the dynamo exporter's metadata.

Every node the dynamo exporter writes carries ``pkg.torch.onnx.name_scopes`` (the module paths from
the root down to the op, then the op's name) and ``pkg.torch.onnx.class_hierarchy`` (their classes).
A node's module is the last path before the op: the innermost module running it, the walker's own
attribution (ops of the root's forward are ``(root)``). Two corrections make a runtime's fused node
land where the walker counts its main op:

* the onnxscript optimizer folds BatchNorm into the preceding Conv and keeps the BatchNorm's
  metadata; such a Conv is charged to the convolution module before the BatchNorm in the same
  parent (definition order), and the BatchNorm listed as fused away;
* a runtime node that fused several ONNX nodes (Conv+Add+activation) is charged to its main op
  (``MAIN_OPS``); the others' modules are listed as fused away.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Iterable

from torch import nn

from cspcost.walk.metrics import ROOT

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
CLASSES_KEY = "pkg.torch.onnx.class_hierarchy"
# The ops a fused runtime node is named for, whose module gets the fused node's time.
MAIN_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum", "Attention", "MultiHeadAttention",
            "FusedConv", "FusedMatMul", "FusedGemm", "LayerNormalization", "MaxPool", "AveragePool")
_NORMS = ("BatchNorm",)


@dataclass
class OnnxGraph:
    """The exported graph's nodes: module, op type, inputs, and which node produces each tensor."""

    module_of: dict[str, str] = field(default_factory=dict)  # node -> module path (ROOT for the root)
    op_of: dict[str, str] = field(default_factory=dict)
    inputs_of: dict[str, list[str]] = field(default_factory=dict)
    producer: dict[str, str] = field(default_factory=dict)  # tensor -> node
    folded: dict[str, str] = field(default_factory=dict)  # Conv node -> the BatchNorm module folded in

    @property
    def has_modules(self) -> bool:
        """Whether the exporter left module metadata (the dynamo exporter does)."""
        return any(m != ROOT for m in self.module_of.values())

    def node_for(self, name: str) -> str | None:
        """The exported node a runtime's node name stands for: itself, or the producer of a tensor of
        that name (ORT names some fused nodes after their output)."""
        if name in self.op_of:
            return name
        return self.producer.get(name)

    def charge(self, nodes: Iterable[str]) -> tuple[str, list[str]]:
        """The module that gets a fused node's time (its main op's) and the modules fused away into it."""
        known = [n for n in nodes if n in self.op_of]
        main = next((n for n in known if self.op_of[n] in MAIN_OPS), known[0])
        module = self.module_of[main]
        away = [self.folded[n] for n in known if n in self.folded]
        away += [self.module_of[n] for n in known if n != main]
        return module, sorted({m for m in away if m != module})

    def main_upstream(self, node: str, hops: int = 4) -> list[str]:
        """``node`` and the producers of its first input, up to the nearest main op (for a runtime
        node that fused a main op with the element-wise ops after it)."""
        chain = [node]
        while self.op_of.get(chain[-1]) not in MAIN_OPS and len(chain) <= hops:
            producers = [self.producer[t] for t in self.inputs_of.get(chain[-1], []) if t in self.producer]
            if not producers:
                break
            # through an Add of a residual, follow the branch a main op produced
            chain.append(next((p for p in producers if self.op_of[p] in MAIN_OPS), producers[0]))
        return chain if self.op_of.get(chain[-1]) in MAIN_OPS else [node]


def read_graph(proto: Any, model: nn.Module) -> OnnxGraph:
    """The node-to-module map of an exported ``onnx.ModelProto`` of ``model``."""
    graph = OnnxGraph()
    convs = _conv_before_norm(model)
    bare: list[str] = []  # nodes without metadata (the onnxscript optimizer's Split, for one)
    for node in proto.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = _literal(meta.get(SCOPES_KEY))
        classes = _literal(meta.get(CLASSES_KEY))
        module = scopes[-2] if len(scopes) >= 2 else ""
        graph.op_of[node.name] = node.op_type
        graph.inputs_of[node.name] = [t for t in node.input if t]
        for tensor in node.output:
            graph.producer[tensor] = node.name
        owner = classes[len(scopes) - 2] if len(classes) == len(scopes) >= 2 else (classes or [""])[-1]
        if node.op_type == "Conv" and any(k in owner for k in _NORMS) and module in convs:
            graph.folded[node.name], module = module, convs[module]
        graph.module_of[node.name] = module or ROOT
        if not scopes:
            bare.append(node.name)
    _place_bare(graph, bare)
    return graph


def _place_bare(graph: OnnxGraph, bare: list[str]) -> None:
    """A node without metadata belongs to the innermost module enclosing all its consumers (a CSP
    stage's Split feeds both parts: the stage), else to its input's producer's module."""
    consumers: dict[str, list[str]] = {}
    for node, tensors in graph.inputs_of.items():
        for tensor in tensors:
            if tensor in graph.producer:
                consumers.setdefault(graph.producer[tensor], []).append(node)
    for node in bare:
        modules = [graph.module_of[c] for c in consumers.get(node, []) if c not in bare]
        if modules:
            graph.module_of[node] = _common_module(modules)
            continue
        producers = [graph.producer[t] for t in graph.inputs_of[node] if t in graph.producer]
        if producers:
            graph.module_of[node] = graph.module_of[producers[0]]


def _common_module(modules: list[str]) -> str:
    """The innermost module path enclosing every module given (ROOT if none)."""
    parts = [[] if m == ROOT else m.split(".") for m in modules]
    common: list[str] = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return ".".join(common) or ROOT


def _literal(text: str | None) -> list[str]:
    """A metadata list written as a Python literal (``"['', 'stem', ...]"``)."""
    if not text:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def _conv_before_norm(model: nn.Module) -> dict[str, str]:
    """For each BatchNorm module, the convolution defined just before it in the same parent."""
    found: dict[str, str] = {}
    for parent_name, parent in model.named_modules():
        last_conv = ""
        for child_name, child in parent.named_children():
            path = f"{parent_name}.{child_name}" if parent_name else child_name
            if isinstance(child, nn.modules.conv._ConvNd):
                last_conv = path
            elif isinstance(child, nn.modules.batchnorm._BatchNorm) and last_conv:
                found[path] = last_conv
    return found


def add_time(table: dict[str, list[float]], key: str, run: int, runs: int, seconds: float) -> None:
    """Add ``seconds`` to ``table[key][run]`` (a list of ``runs`` zeros when new)."""
    if key not in table:
        table[key] = [0.0] * runs
    table[key][run] += seconds


def merge_fused(target: dict[str, set[str]], module: str, away: list[str]) -> None:
    """Record modules fused away into ``module``."""
    if away:
        target.setdefault(module, set()).update(away)


def fused_lists(fused: dict[str, set[str]]) -> dict[str, list[str]]:
    """Fused-away sets as sorted lists."""
    return {k: sorted(v) for k, v in sorted(fused.items())}


