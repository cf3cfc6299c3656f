"""From captured events to numbers: price each op, group ops into layers, sum the totals.

A *layer* is the innermost module that ran an op (a leaf such as ``stem.conv``, or a block whose
own ``forward`` adds or concatenates: its row holds only its own ops), named by its call site:
one module instance shared by several parents gets one row under each parent's path. A module
run several times at one call site keeps one row: ``calls`` says how many times, ``out_shape``
is its last call's. Modules that hold parameters but never ran still get a row, so per-layer
``params`` add up to the model's (a shared module's counted once, under its first name).
"""
from __future__ import annotations

from collections import Counter
from math import prod
from typing import Any

import pandas as pd

from cspcost.errors import UnsupportedOpsError
from cspcost.walk.capture import Capture
from cspcost.walk.conventions import Convention
from cspcost.walk.records import LayerRow, OpCost, OpEvent, Totals
from cspcost.walk.rules import lookup, rule_for, unsupported_name

ROOT = "(root)"  # the row of ops run by the model's own forward
SUMMED_COLUMNS = ["ops", "macs", "flops", "params", "conv_weight_params", "cio_elems", "cio_in_elems",
                  "cio_out_elems", "out_elems", "bytes_read", "bytes_written"]
SHARED = ["macs", "flops", "params", "cio_elems"]  # columns that get a *_share column
COLUMNS = ["name", "type", "label", *SUMMED_COLUMNS, "intensity", "out_shape", *(f"{c}_share" for c in SHARED),
           "calls"]
TOTAL_KEYS = [key for key in Totals.__annotations__ if key != "peak_activation_bytes"]  # summed over layers


def _foldable(events: list[OpEvent], i: int) -> bool:
    """A BN whose input is the output of the conv just before it can be folded into that conv."""
    prev = events[i - 1] if i else None
    return (prev is not None and lookup(prev.op) is not None and lookup(prev.op).kind == "conv"
            and prev.outputs[0].shape == events[i].args[0].shape)


def price_ops(capture: Capture, conv: Convention, strict: bool = False) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One row per op with its cost under ``conv``; unsupported ops counted (or raised if strict)."""
    rows: list[dict[str, Any]] = []
    unsupported: Counter[str] = Counter()
    cio_kinds = conv.cio_kinds
    for i, ev in enumerate(capture.events):
        rule = rule_for(ev)
        if rule is None:  # a peer convention may still count it from its shapes
            unsupported[unsupported_name(ev)] += 1
            macs, flops = conv.count(ev, OpCost("unsupported"), capture)
            rows.append(_op_row(i, ev, "unsupported", macs, flops, 0, 0, 0, 0))
            continue
        c = rule.cost(ev)
        if c.kind == "bn" and conv.fuse_bn and _foldable(capture.events, i):
            rows.append({**_op_row(i, ev, "bn", 0, 0, 0, 0, 0, 0), "folded_into": _fold_target(capture.events[i - 1])})
            continue
        macs, flops = conv.count(ev, c, capture)
        cio = c.io_elems if c.kind in cio_kinds else 0
        row = _op_row(i, ev, c.kind, macs, flops, cio, c.out_elems, c.bytes_read, c.bytes_written)
        row["cio_out_elems"] = ev.outputs[0].numel if cio else 0
        row["cio_in_elems"] = cio - row["cio_out_elems"]
        rows.append(row)
    if strict and unsupported:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(unsupported.items()))
        raise UnsupportedOpsError(f"--strict: no cost rule for {listed}")
    return rows, dict(unsupported)


def _fold_target(conv_event: OpEvent) -> tuple[str, int]:
    """The conv a BN folds into, and the bias elements folding adds to it (0 if it has a bias)."""
    has_bias = len(conv_event.args) > 2 and conv_event.args[2] is not None
    return conv_event.module, 0 if has_bias else conv_event.outputs[0].shape[1]


def _op_row(i: int, ev: OpEvent, kind: str, macs: int, flops: int, cio: int, out_elems: int,
            read: int, written: int) -> dict[str, Any]:
    """One priced op as a plain dict."""
    shape = ev.outputs[0].shape if ev.outputs else ()
    return {"index": i, "op": ev.op, "module": ev.module or ROOT, "kind": kind, "macs": macs,
            "flops": flops, "cio_elems": cio, "cio_in_elems": 0, "cio_out_elems": 0,
            "out_elems": out_elems, "bytes_read": read, "bytes_written": written, "out_shape": shape}


def layer_rows(ops: list[dict[str, Any]], capture: Capture, conv: Convention) -> list[LayerRow]:
    """Ops summed per executing module, in order of first execution, plus parameter-only modules."""
    layers: dict[str, dict[str, Any]] = {}
    for op in ops:
        row = layers.get(op["module"])
        if row is None:
            row = layers[op["module"]] = _empty_layer(op["module"], capture)
        row["ops"] += 1
        row["_adds"] += op["op"] in ("aten.add", "aten.add_")
        for key in ("macs", "flops", "cio_elems", "cio_in_elems", "cio_out_elems", "out_elems",
                    "bytes_read", "bytes_written"):
            row[key] += op[key]
        if op["kind"] != "view":
            row["out_shape"] = op["out_shape"]
    for path in capture.module_params:
        name = path or ROOT
        if name not in layers:
            layers[name] = _empty_layer(name, capture)
    for row in layers.values():
        own, weights = capture.module_params.get("" if row["name"] == ROOT else row["name"], (0, 0))
        row["params"] = weights if conv.conv_weights_only else own
        row["conv_weight_params"] = weights
        adds = row.pop("_adds")
        if conv.shortcut_flops and row["type"] == "Shortcut":
            # darknet 2020+ (make_shortcut_layer): out_w*out_h*out_c per added layer
            row["flops"] = adds * prod(row["out_shape"])
    if conv.fold_bn_params:
        _fold_params(ops, layers)
    return list(layers.values())


def _fold_params(ops: list[dict[str, Any]], layers: dict[str, dict[str, Any]]) -> None:
    """Folded BN, as a deployment fuse leaves it: its scale and shift leave, its conv gains a bias."""
    done: set[str] = set()
    for op in ops:
        if "folded_into" not in op or op["module"] in done:
            continue
        done.add(op["module"])
        target, bias = op["folded_into"]
        layers[op["module"]]["params"] = 0
        layers[target or ROOT]["params"] += bias


def _empty_layer(name: str, capture: Capture) -> dict[str, Any]:
    """A zeroed layer row for a module path."""
    path = "" if name == ROOT else name
    row: dict[str, Any] = {"name": name, "type": capture.module_types.get(path, "?"),
                           "label": capture.module_labels.get(path, ""),
                           "calls": capture.module_calls.get(path, 0)}
    row.update({key: 0 for key in SUMMED_COLUMNS})
    row["out_shape"], row["_adds"] = (), 0
    return row


def ancestor(name: str, depth: int) -> str:
    """A layer's enclosing module at ``depth`` (``stages.2.blocks.1`` at depth 2: ``stages.2``)."""
    return name if name == ROOT else ".".join(name.split(".")[:depth])


def aggregate(rows: list[LayerRow], depth: int | None, types: dict[str, str],
              calls: dict[str, int] | None = None) -> list[LayerRow]:
    """Merge layer rows into their ancestor at module depth ``depth`` (None keeps them as they are);
    a merged row's ``calls`` are its ancestor's own."""
    if depth is None:
        return rows
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = ancestor(row["name"], depth)
        target = merged.get(name)
        if target is None:
            merged[name] = {**row, "name": name, "type": types.get(name, row["type"])}
            if calls is not None and name != row["name"]:
                merged[name]["calls"] = calls.get("" if name == ROOT else name, 0)
            continue
        for key in SUMMED_COLUMNS:
            target[key] += row[key]
        if row["ops"]:
            target["out_shape"] = row["out_shape"]
    return list(merged.values())


def totals(rows: list[LayerRow], capture: Capture) -> Totals:
    """Column sums over the layer rows (the model's totals), plus the activation memory peak."""
    sums = {key: sum(row[key] for row in rows) for key in TOTAL_KEYS}  # type: ignore[literal-required]
    return Totals(**sums, peak_activation_bytes=capture.peak_activation_bytes)  # type: ignore[typeddict-item]


def to_frame(rows: list[LayerRow], sums: Totals) -> pd.DataFrame:
    """The per-layer DataFrame: counts, arithmetic intensity and shares of the totals."""
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if not c.endswith("_share") and c != "intensity"])
    traffic = frame["bytes_read"] + frame["bytes_written"]
    frame["intensity"] = (frame["flops"] / traffic.where(traffic > 0)).fillna(0.0)
    for key in SHARED:
        frame[f"{key}_share"] = frame[key] / sums[key] if sums[key] else 0.0
    return frame[COLUMNS]
