"""Display views: DataFrames reshaped for a 100-column terminal (pandas only, no torch)."""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd


def _short(name: str, width: int = 26) -> str:
    """Keep the end of a long dotted path."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def profile_layers(layers: pd.DataFrame) -> pd.DataFrame:
    """Per-layer times: ms, share of time vs share of FLOPs, achieved rates, roofline bound."""
    blank = pd.Series([""] * len(layers), index=layers.index)
    bound = layers["bound"].fillna("") if "bound" in layers else blank
    predicted = layers["predicted_ms"].round(3) if "predicted_ms" in layers else blank
    return pd.DataFrame({
        "layer": layers["name"].map(lambda n: _short(n, 24)), "type": layers["type"].str.slice(0, 10),
        "ms": layers["measured_ms"].round(3), "roofline ms": predicted,
        "time %": (100 * layers["time_share"]).round(1), "FLOPs %": (100 * layers["flops_share"]).round(1),
        "GFLOP/s": layers["achieved_gflops"].round(1), "GB/s": layers["achieved_gbs"].round(2), "bound": bound,
    })


def latency(result: Any) -> pd.DataFrame:
    """A ProfileResult as (field, value) rows: statistics, throughput, the environment stamp."""
    stats = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.latency.to_dict().items()}
    row = {"model": result.model, "input": "x".join(map(str, result.input_shape[0])), **stats,
           "fps": round(result.fps, 2), "images_per_s": round(result.images_per_s, 2)}
    env = {k: v for k, v in result.environment.items() if isinstance(v, (str, int, float, bool))}
    merged = {**row, **env}
    return pd.DataFrame({"field": list(merged), "value": [str(v) for v in merged.values()]})


def budget_outcomes(outcomes: Sequence[Any]) -> pd.DataFrame:
    """One row per budget limit: measured, limit, tolerance, margin, status."""
    return pd.DataFrame([{
        "model": o.model, "metric": o.metric, "measured": o.measured, "limit": o.limit,
        "tolerance": o.tolerance, "margin_pct": round(o.margin_pct, 2), "status": "ok" if o.ok else "EXCEEDED",
    } for o in outcomes])


def formula_sweep(frame: pd.DataFrame) -> pd.DataFrame:
    """The closed-form sweep: one block column, closed form (f) vs walker (w) per metric."""
    block = frame.apply(lambda r: f"c{r.c} d{r.d} m{r.m} {r.w}x{r.h} g{r.gamma} k{r.k} {r.fusion}", axis=1)
    return pd.DataFrame({
        "block": block, "CIO f": frame["cio_formula"], "CIO w": frame["cio_measured"],
        "MACs f": frame["macs_formula"], "MACs w": frame["macs_measured"],
        "params f": frame["params_formula"], "params w": frame["params_measured"],
        "ok": frame["agree"].map({True: "=", False: "NO"}),
    })


def formula_zoo(frame: pd.DataFrame) -> pd.DataFrame:
    """The zoo's dense blocks against the formula, with the bottleneck term and the rest."""
    return pd.DataFrame({
        "model": frame["model"], "stage": frame["stage"], "c_in": frame["c_in"], "m": frame["m"],
        "b": frame["b"], "map": frame["w"].astype(str) + "x" + frame["h"].astype(str),
        "formula": frame["cio_formula"], "walker": frame["cio_measured"],
        "diff %": frame["difference_pct"].round(1), "+2mbwh": frame["bottleneck_term"],
        "rest": frame["unexplained"],
    })


def explanations(items: Sequence[tuple[str, str, str, str]]) -> str:
    """Every closed form with its source and assumptions, as plain text."""
    lines: list[str] = []
    for name, equation, source, assumptions in items:
        lines += [f"{name}: {equation}", f"    source: {source}", f"    assumes: {assumptions}", ""]
    return "\n".join(lines)


def csp_blocks(models: dict[str, list[dict[str, Any]]]) -> pd.DataFrame:
    """CSP blocks, one row each (models side by side when several): structure, totals, part 2's share."""
    rows = []
    for model, blocks in models.items():
        for k, b in enumerate(blocks):
            part2 = b["roles"]["part2"]
            rows.append({
                **({"model": _short(model, 14)} if len(models) > 1 else {}), "#": str(k + 1),
                "block": _short(b["name"], 20), "in": _short(b["parent"] or "", 12),
                "split": "chan" if b["pattern"] == "split" else "proj", "gamma": b["gamma_fraction"],
                "m": str(b["part2_depth"]), "fusion": b["fusion"], "GFLOPs": f"{b['flops'] / 1e9:.3f}",
                "params": f"{b['params'] / 1e6:.3f}M", "CIO": f"{b['cio_elems'] / 1e6:.2f}M",
                "p2 FLOPs": _pct(part2["flops"], b["flops"]), "p2 CIO": _pct(part2["cio_elems"], b["cio_elems"]),
            })
    return pd.DataFrame(rows)


def _pct(part: float, whole: float) -> str:
    """A share in percent, one decimal."""
    return f"{100 * part / whole:.1f}%" if whole else "-"


def stage_deltas(frame: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """The per-stage table: each model's GFLOPs and CIO per stage, the others' changes vs the first."""
    out = pd.DataFrame({"stage": frame["stage"]})
    for k, model in enumerate(labels):
        name = letter(k)
        out[f"{name} layers"] = frame[f"{model} layers"].astype(str)
        out[f"{name} GFLOPs"] = frame[f"{model} flops"].map(lambda v: f"{v / 1e9:.3f}")
        out[f"{name} CIO"] = frame[f"{model} cio_elems"].map(lambda v: f"{v / 1e6:.2f}M")
        if k:
            for key, short in (("flops", "FLOPs"), ("cio_elems", "CIO")):
                out[f"{name} d{short}"] = frame[f"{model} {key}_delta_pct"].map(
                    lambda v: "-" if v is None or pd.isna(v) else f"{v:+.1f}%")
    return out


def letter(k: int) -> str:
    """The column letter of the k-th model of a comparison (A, B, ...)."""
    return chr(ord("A") + k) if k < 26 else str(k)


def legend(labels: Sequence[str]) -> str:
    """'A = resnext50 @256x256, B = ...': what the letters of a comparison table stand for."""
    return ", ".join(f"{letter(k)} = {m}" for k, m in enumerate(labels))


def csp_side_by_side(models: dict[str, list[dict[str, Any]]], stages: dict[str, dict[str, str]],
                     order: Sequence[str]) -> pd.DataFrame:
    """Two or more models' CSP blocks side by side, paired stage by stage in execution order."""
    rows = []
    for stage in order:
        per_model = {m: [b for b in blocks if stages[m].get(b["name"]) == stage] for m, blocks in models.items()}
        for k in range(max((len(v) for v in per_model.values()), default=0)):
            row: dict[str, str] = {"stage": stage}
            for j, blocks in enumerate(per_model.values()):
                name = letter(j)
                b = blocks[k] if k < len(blocks) else None
                row[f"{name} block"] = _short(b["name"], 14) if b else ""
                row[f"{name} g m fusion"] = f"{b['gamma_fraction']} {b['part2_depth']} {b['fusion']}" if b else ""
                row[f"{name} GFLOPs"] = f"{b['flops'] / 1e9:.3f}" if b else ""
                row[f"{name} p2 FLOPs"] = _pct(b["roles"]["part2"]["flops"], b["flops"]) if b else ""
            rows.append(row)
    return pd.DataFrame(rows)
