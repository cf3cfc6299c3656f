"""cspcost's prediction of each peer's number: the peer's rules applied to the one capture.

Every op of the capture becomes a ``Site`` that knows its module's classes (and those of the modules
around it), so rules that follow a tool's module hooks can match classes as that tool does. The
prediction is kept per rule and per layer, so that a difference can be named and located.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from torch import nn

from cspcost.walk.capture import Capture
from cspcost.walk.classes import module_bases
from cspcost.walk.conventions.counting import RuleSet, Site, make_site, not_fused
from cspcost.walk.metrics import ROOT
from cspcost.walk.records import OpCost
from cspcost.walk.rules import rule_for

def sites(capture: Capture, model: nn.Module) -> list[Site]:
    """Each recorded op with cspcost's cost and the classes of its module and the modules around it
    (an nn.MultiheadAttention that runs the fused fast path on the real ``model`` marked)."""
    bases = module_bases(model)
    found = []
    for ev in capture.events:
        rule = rule_for(ev)
        cost = rule.cost(ev) if rule is not None else OpCost("unsupported")
        found.append(make_site(ev, cost, capture.module_types, bases))
    return found


def layer_of(path: str, depth: int) -> str:
    """The layer an op's module belongs to at ``depth`` (1 = top-level blocks)."""
    return ".".join(path.split(".")[:depth]) if path else ROOT


@dataclass
class Prediction:
    """One peer's predicted total, the amount each rule contributes, and the total per layer."""

    tool: str
    unit: str
    total: int = 0
    by_rule: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_layer: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    why: list[dict[str, object]] = field(default_factory=list)


def predict(rules: RuleSet, unit: str, found: list[Site], depth: int, layerless: str = "") -> Prediction:
    """Apply ``rules`` to every site; rules named with ``layerless`` count at the root row (the peer
    reports them for the whole model only, as thop does its functional products)."""
    per_mac = 2 if unit == "FLOPs" else 1
    pred = Prediction(rules.tool, unit)
    missed: dict[str, int] = defaultdict(int)
    unit_amount = 0
    for site in found:
        matched = rules.rules_for(site)
        if not matched:
            # an op the tool has rules for but not here (a class it does not hook, a hooked module's child)
            seen = ("inside nn.MultiheadAttention's fused fast path (one aten._native_multi_head_attention)"
                    if not not_fused(site) else "not reached by its rules here" if rules.claims(site.event.op)
                    else "not counted")
            missed[f"{site.event.op} {seen}"] -= site.cost.macs
            continue
        unit_amount += (per_mac - 1) * site.cost.macs
        for i, rule in enumerate(matched):
            n = rule.count(site)
            pred.total += n
            pred.by_rule[rule.name] += n - (per_mac * site.cost.macs if i == 0 else 0)
            layer = ROOT if layerless and rule.name.startswith(layerless) else layer_of(site.event.module, depth)
            pred.by_layer[layer] += n
    pred.why = _why(rules.tool, pred.by_rule, unit_amount, missed)
    return pred


def _why(tool: str, by_rule: dict[str, int], unit_amount: int, missed: dict[str, int]) -> list[dict[str, object]]:
    """Every nonzero difference from cspcost's MACs, by named rule, largest first."""
    why = [{"rule": name, "amount": amount} for name, amount in by_rule.items()]
    if unit_amount:
        why.append({"rule": f"{tool}: FLOPs = 2 x MACs", "amount": unit_amount})
    why += [{"rule": f"{tool}: {op}", "amount": amount} for op, amount in missed.items()]
    return sorted((w for w in why if w["amount"]), key=lambda w: (-abs(int(w["amount"])), str(w["rule"])))
