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
    lines = [f"{result.model}  input {'x'.join(map(str, result.input_shape[0]))}  ({where})",
             f"median {rounded(lat.median_ms)} ms (IQR {rounded(lat.q1_ms)}-{rounded(lat.q3_ms)}, "
             f"{lat.runs} runs), {rounded(result.images_per_s)} img/s",
             f"spread: CV {percent(lat.cv)}%, p10 {rounded(lat.p10_ms)} ms, p90 {rounded(lat.p90_ms)} ms, "
             f"min {rounded(lat.min_ms)} ms, max {rounded(lat.max_ms)} ms" + _processes_note(result),
             environment_line(env)]
    return "\n".join(lines) + "\n"


def _processes_note(result: Any) -> str:
    """', 3 processes (medians 40.1-42.3 ms)' when merged from fresh processes."""
    if not result.processes:
        return ""
    medians = [p["median_ms"] for p in result.processes]
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
