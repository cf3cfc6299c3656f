"""Display views: DataFrames reshaped for a 100-column terminal (pandas only, no torch)."""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from cspcost.render.tables import middle_truncate, percent, rounded

LAYER_HEADERS = ["layer", "type", "ms", "roofline ms", "time %", "FLOPs %", "GFLOP/s", "GB/s", "bound"]


def profile_layers(layers: pd.DataFrame, width: int = 100) -> pd.DataFrame:
    """Per-layer times as text for people: names shortened in the middle to fit ``width``, types
    and bounds whole, times rounded, percentages with one decimal (exact values: JSON/CSV)."""
    bound = layers["bound"].fillna("") if "bound" in layers else pd.Series("", index=layers.index)
    predicted = layers["predicted_ms"] if "predicted_ms" in layers else pd.Series(float("nan"), index=layers.index)
    cells = {
        "type": layers["type"].astype(str), "ms": layers["measured_ms"].map(rounded),
        "roofline ms": predicted.map(rounded), "time %": layers["time_share"].map(percent),
        "FLOPs %": layers["flops_share"].map(percent), "GFLOP/s": layers["achieved_gflops"].map(rounded),
        "GB/s": layers["achieved_gbs"].map(rounded), "bound": bound.replace("", "-"),
    }
    # A rendered row is one space, the columns two spaces apart, one space: fit the names in the rest.
    used = sum(max(len(h), int(c.str.len().max() or 0)) + 2 for h, c in cells.items()) + 2
    names = short_names(list(layers["name"]), max(12, width - used))
    return pd.DataFrame({"layer": names, **cells}, index=layers.index)[LAYER_HEADERS]


def short_names(names: list[str], width: int) -> list[str]:
    """Layer paths shortened in the middle to ``width``; where two would read the same, the
    middle parts are abbreviated instead ('stages.1.blocks.0.conv' -> 's.1.b.0.conv'), keeping
    the indices that tell them apart."""
    short = [middle_truncate(n, width) for n in names]
    counts = {s: short.count(s) for s in set(short)}
    return [s if counts[s] == 1 else _abbreviated(n, width) for s, n in zip(short, names)]


def _abbreviated(text: str, width: int) -> str:
    """Shorten the named (non-index) parts before the last one to their first letter, left to
    right, until ``text`` fits; middle-truncated if it still does not."""
    parts = text.split(".")
    for i in range(len(parts) - 1):
        if len(".".join(parts)) <= width:
            break
        if not parts[i].isdigit():
            parts[i] = parts[i][:1]
    return middle_truncate(".".join(parts), width)


def profile_block(result: Any) -> str:
    """``cspcost profile`` for people: what was timed, the median with IQR and throughput, the
    spread, and one environment line (every number rounded; exact ones in JSON/CSV)."""
    lat, env = result.latency, result.environment
    threads = env.get("threads", "?")
    where = f"{env.get('device', '?')} {env.get('dtype', '?')}, {threads} thread{'s' if threads != 1 else ''}"
    runtime = getattr(result, "runtime", "eager")
    where += f", {runtime}" + (f" {env['precision_hint']}" if env.get("precision_hint") else "")
    lines = [f"{result.model}  input {'x'.join(map(str, result.input_shape[0]))}  ({where})",
             f"median {rounded(lat.median_ms)} ms (IQR {rounded(lat.q1_ms)}-{rounded(lat.q3_ms)}, "
             f"{lat.runs} runs), {rounded(result.images_per_s)} img/s",
             f"spread: CV {percent(lat.cv)}%, p10 {rounded(lat.p10_ms)} ms, p90 {rounded(lat.p90_ms)} ms, "
             f"min {rounded(lat.min_ms)} ms, max {rounded(lat.max_ms)} ms" + _processes_note(result),
             environment_line(env)]
    return "\n".join(lines) + "\n"


def _processes_note(result: Any) -> str:
    """', 3 processes (medians 40.1-42.3 ms)' when merged from fresh processes."""
    if not result.process_runs:
        return ""
    medians = [p["median_ms"] for p in result.process_runs]
    return f"; {len(medians)} processes (medians {rounded(min(medians))}-{rounded(max(medians))} ms)"


def environment_line(env: dict[str, Any], width: int = 100) -> str:
    """One line: CPU or GPU, CPUs, torch, and how busy the machine was while timing."""
    busy = [f"load {env['load_avg_1min']:.1f}" if _number(env.get("load_avg_1min")) else "",
            f"CPU share {env['cpu_share']:.0%}" if _number(env.get("cpu_share")) else "",
            f"steal {env['cpu_steal_share']:.0%}" if _number(env.get("cpu_steal_share")) else ""]
    rest = f" ({env.get('cpu_count', '?')} CPUs), torch {env.get('torch', '?')}"
    if env.get("cudnn_version") is not None:
        rest += f", cuDNN {env['cudnn_version']} benchmark={env.get('cudnn_benchmark')}"
    rest += "; " + ", ".join(b for b in busy if b)
    name = str(env.get("device_name") or env.get("cpu_model", "?"))
    room = max(12, width - len("environment: ") - len(rest))
    return "environment: " + middle_truncate(name, room) + rest


def _number(value: Any) -> bool:
    """A real number (not None, not NaN)."""
    return isinstance(value, (int, float)) and value == value


def latency(result: Any) -> pd.DataFrame:
    """A ProfileResult as exact (field, value) rows: statistics, throughput, the environment stamp."""
    row = {"model": result.model, "input": "x".join(map(str, result.input_shape[0])),
           **result.latency.to_dict(), "fps": result.fps, "images_per_s": result.images_per_s}
    env = {k: v for k, v in result.environment.items() if isinstance(v, (str, int, float, bool))}
    merged = {**row, **env, "warnings": "; ".join(result.warnings)}
    return pd.DataFrame({"field": list(merged), "value": [repr(v) if isinstance(v, float) else str(v)
                                                          for v in merged.values()]})


def layer_summary_line(summary: dict[str, Any]) -> str:
    """The per-layer totals for people: sum vs end-to-end, instrumentation cost, rank correlation."""
    rho = summary.get("spearman_predicted_vs_measured")
    return (f"per-layer sum {summary['layer_sum_ms']:.3g} ms = {summary['layer_sum_ratio']:.2f} x the plain "
            f"forward ({summary['reference_ms']:.3g} ms, {summary['layer_runs']} instrumented runs, "
            f"instrumentation {summary['instrumentation_overhead']:+.0%} wall time)"
            + (f"; roofline vs measured rank correlation {rho:.2f}" if rho is not None else ""))


def mapped_line(result: Any) -> str:
    """Under a runtime that names graph nodes: the share of its time mapped to modules, the rest by type."""
    share = getattr(result, "mapped_time_share", None)
    if share is None or getattr(result, "runtime", "eager") == "eager":
        return ""
    rest = sorted(result.unmapped_ms.items(), key=lambda kv: -kv[1])
    named = ", ".join(f"{kind} {ms:.3g} ms" for kind, ms in rest[:5])
    fused = sum(len(v) for v in result.fused_away.values())
    return (f"{result.runtime}: {share:.1%} of node time mapped to modules"
            + (f"; unmapped: {named}" if named else "")
            + (f"; {fused} modules fused into their neighbours' nodes (JSON: fused_away)" if fused else ""))


def runtimes_table(result: Any) -> pd.DataFrame:
    """A paired measurement of one model under several runtimes: latency and ratio to the first."""
    return pd.DataFrame([{
        "runtime": m.runtime, "model": m.name, "latency_ms": m.latency.median_ms, "cv": m.latency.cv,
        "ratio": m.ratio.median, "ratio_low": m.ratio.low, "ratio_high": m.ratio.high,
    } for m in result.models])


def budget_outcomes(outcomes: Sequence[Any]) -> pd.DataFrame:
    """One row per budget limit: measured, limit, tolerance, margin, status."""
    return pd.DataFrame([{
        "model": o.model, "metric": o.metric, "measured": o.measured, "limit": o.limit,
        "tolerance": o.tolerance, "margin_pct": round(o.margin_pct, 2), "status": "ok" if o.ok else "EXCEEDED",
    } for o in outcomes])


def budget_display(frame: pd.DataFrame) -> pd.DataFrame:
    """The budget outcomes for people: counts scaled (K/M/G), tolerance and margin in percent."""
    from cspcost.render.tables import human

    shown = frame.copy()
    for column in ("measured", "limit"):
        shown[column] = frame[column].map(lambda v: human(v))
    shown["tolerance"] = frame["tolerance"].map(lambda v: f"{100 * v:g}%")
    shown["margin_pct"] = frame["margin_pct"].map(lambda v: f"{v:+.1f}%")
    return shown.rename(columns={"margin_pct": "margin"})


def formula_sweep(frame: pd.DataFrame, show_all: bool = True) -> pd.DataFrame:
    """The closed-form sweep: one block column, closed form (f) vs walker (w) per metric; unless
    ``show_all``, only the disagreements (or, when all agree, the first 12 rows)."""
    wrong = frame[~frame["agree"]]
    frame = frame if show_all else (wrong if len(wrong) else frame.head(12))
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
                **({"model": middle_truncate(model, 14)} if len(models) > 1 else {}), "#": str(k + 1),
                "block": middle_truncate(b["name"], 20), "parent": middle_truncate(b["parent"] or "-", 12),
                "pattern": "split" if b["pattern"] == "split" else "proj", "gamma": b["gamma_fraction"],
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
                row[f"{name} block"] = middle_truncate(b["name"], 14) if b else ""
                row[f"{name} g m fusion"] = f"{b['gamma_fraction']} {b['part2_depth']} {b['fusion']}" if b else ""
                row[f"{name} GFLOPs"] = f"{b['flops'] / 1e9:.3f}" if b else ""
                row[f"{name} p2 FLOPs"] = _pct(b["roles"]["part2"]["flops"], b["flops"]) if b else ""
            rows.append(row)
    return pd.DataFrame(rows)
