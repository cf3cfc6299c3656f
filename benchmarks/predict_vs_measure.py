"""Hold cspcost's latency predictions to measurement: real models, each runtime, one run.

For each runtime (eager PyTorch, ONNX Runtime, OpenVINO) this calibrates the machine in the same run (default
grid), then for each model predicts its latency from the meta capture and measures it (median of
``--repeat`` forwards after warm-up, batch 1, ``--threads`` threads). Per model: measured, predicted,
error; over all models: median and p90 absolute error and Spearman's rank correlation, for the
calibrated model and for the FLOPs-only baseline (``ms = a x GFLOPs + b``, each model predicted by
the line fitted on all the others: leave-one-out). Then Table 5's zoo pairs: the predicted
CSP/baseline latency ratio beside the measured one (ratio of the two medians from this run) and the
FLOPs ratio. The load average and this process's CPU share are recorded, since a busy machine
makes every measured number noisier.

    python benchmarks/predict_vs_measure.py                          # everything (about 15-30 min)
    python benchmarks/predict_vs_measure.py --runtimes eager --models zoo
    python benchmarks/predict_vs_measure.py --smoke                  # 3 small models, quick grid

Writes ``--out`` (default reports/predict_vs_measure): .md (the tables), .json (every number), and
prints the Markdown. Run it on a quiet machine for figures worth quoting.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from typing import Any

ZOO = ["resnet10", "cspresnet10", "resnet50", "cspresnet50", "resnext50", "cspresnext50", "darknet53",
       "cspdarknet53", "mobilenetv2", "cspmobilenetv2", "peleenet", "csppeleenet", "densenet201",
       "cspdensenet201", "peleenet_yolo", "peleenet_prn", "csppeleenet_efm", "csppeleenet_efm_nosam",
       "csppeleenet_gfm"]
LIBRARIES = [
    "timm:resnet18", "timm:resnet50", "timm:efficientnet_b0", "timm:mobilenetv3_large_100",
    "timm:ghostnet_100", "timm:regnety_008", "timm:cs3darknet_s", "timm:vit_tiny_patch16_224",
    "timm:convnext_atto", "timm:densenet121",
    "torchvision:mobilenet_v2", "torchvision:shufflenet_v2_x1_0", "torchvision:squeezenet1_1",
    "torchvision:mnasnet1_0", "torchvision:resnet34", "torchvision:googlenet",
    "ultralytics:yolov8n.yaml", "ultralytics:yolo11n.yaml", "ultralytics:yolov5nu.yaml",
    "ultralytics:yolo11n-seg.yaml",
]
PAIRS = [  # Table 5 (reports/table5.md): (CSP model, its baseline)
    ("cspdarknet53", "darknet53"), ("cspdensenet201", "densenet201"), ("cspmobilenetv2", "mobilenetv2"),
    ("csppeleenet", "peleenet"), ("csppeleenet_efm", "peleenet_prn"), ("csppeleenet_efm_nosam", "peleenet_prn"),
    ("csppeleenet_gfm", "peleenet_prn"), ("cspresnet10", "resnet10"), ("cspresnet50", "resnet50"),
    ("cspresnext50", "resnext50"), ("peleenet_prn", "peleenet_yolo"), ("csppeleenet_efm", "peleenet_yolo"),
]
SMOKE = ["resnet10", "cspresnet10", "mobilenetv2"]


def main() -> None:
    """Parse the options, run every runtime, write and print the report."""
    args = _parse()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    warnings.filterwarnings("ignore")
    models = _models(args)
    report: dict[str, Any] = {"threads": args.threads, "repeat": args.repeat, "rounds": args.rounds,
                              "models": models, "clock": args.clock,
                              "started": _stamp(), "runtimes": {}}
    runtimes = args.runtimes.split(",")
    for runtime in runtimes:
        # Each runtime in a fresh process when there are several: one that ran after another here
        # measured 5-10% slower (the heap and caches the first left behind), its calibration not.
        report["runtimes"][runtime] = (_run_runtime(runtime, models, args) if len(runtimes) == 1
                                       else _in_fresh_process(runtime))
        _write(report, args.out)  # whole files after each runtime: a long run keeps what it has
    report["finished"] = _stamp()
    text = _write(report, args.out)
    print(text)


def _in_fresh_process(runtime: str) -> dict[str, Any]:
    """One runtime's section, measured by this script run again for that runtime alone."""
    import subprocess
    import tempfile

    argv = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        stem = os.path.join(tmp, "part")
        rest = [a for i, a in enumerate(argv) if a not in ("--runtimes", "--out")
                and (i == 0 or argv[i - 1] not in ("--runtimes", "--out"))]
        subprocess.run([sys.executable, __file__, *rest, "--runtimes", runtime, "--out", stem], check=True,
                       stdout=subprocess.DEVNULL)
        with open(f"{stem}.json", encoding="utf-8") as f:
            return dict(json.load(f)["runtimes"][runtime])


def _parse() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtimes", default="eager,onnxruntime,openvino",
                        help="comma-separated: eager, onnxruntime, openvino")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=6, help="timed forwards per model and round")
    parser.add_argument("--rounds", type=int, default=5,
                        help="passes over all models (shuffled order each); a model's time is the median of its "
                             "round medians, a pair's ratio the median of its per-round ratios")
    parser.add_argument("--models", default="all", help="all, zoo, libraries, or a comma-separated list of specs")
    parser.add_argument("--smoke", action="store_true", help="3 small zoo models and the quick grid (a minute)")
    parser.add_argument("--out", default="reports/predict_vs_measure", help="output stem (.md, .json)")
    parser.add_argument("--clock", choices=("thread", "wall"), default="thread",
                        help="with 1 thread, hold predictions to the thread's CPU time (default; robust to other "
                             "load) or to wall time")
    return parser.parse_args()


def _models(args: argparse.Namespace) -> list[str]:
    """The model specs to run."""
    if args.smoke:
        return SMOKE
    named = {"all": ZOO + LIBRARIES, "zoo": ZOO, "libraries": LIBRARIES}
    return named.get(args.models, [m for m in args.models.split(",") if m])


def _run_runtime(runtime: str, models: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Calibrate, then predict every model and measure all of them in interleaved rounds."""
    from cspcost.latency.calibrate import calibrate
    from cspcost.latency.fit import leave_one_out_line

    start = time.perf_counter()
    machine = calibrate(runtime, args.threads, "quick" if args.smoke else "default",
                        progress=lambda d, n, label: _say(f"\r[{runtime}] calibrating {d}/{n}", end=""))
    _say(f"\n[{runtime}] calibrated in {time.perf_counter() - start:.0f} s")
    rows, runners = [], {}
    for spec in models:
        row, run = _prepare(spec, runtime, machine, args)
        rows.append(row)
        if run is not None:
            runners[spec] = run
    rounds = _rounds(runners, runtime, args)
    for row in rows:
        if row["model"] in rounds:
            _measured(row, rounds[row["model"]], args)
            _say(f"[{runtime}] {row['model']}: measured {row['measured_ms']:.2f} ms, "
                 f"predicted {row['predicted_ms']:.2f} ms")
    done = [r for r in rows if r.get("measured_ms")]
    if len(done) >= 3:
        loo = leave_one_out_line([r["gflops"] for r in done], [r["measured_ms"] for r in done])
        for r, ms in zip(done, loo):
            r["flops_loo_ms"] = ms
    return {"machine": {"peak_gflops": machine.peak_gflops, "bandwidth_gbs": machine.bandwidth_gbs,
                        "classes": {k: {"points": v.points, "median_abs_err": v.median_abs_err}
                                    for k, v in machine.classes.items()}},
            "rows": rows, "summary": _summary(done), "pairs": _pairs(rows, args)}


def _prepare(spec: str, runtime: str, machine: Any, args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """Predict one model and prepare its forward (a failure to build, export or run is recorded, not raised)."""
    from cspcost.latency.measure import prepare_model
    from cspcost.latency.predict import predict_measured
    from cspcost.walk.analysis import measure_rows

    try:
        measured_rows = measure_rows(spec)
        prediction = predict_measured(measured_rows, machine)
        _, run = prepare_model(spec, runtime, args.threads)
    except Exception as exc:  # noqa: BLE001 - one model's failure must not end a long benchmark
        return {"model": spec, "skipped": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"}, None
    return {"model": spec, "gflops": measured_rows.totals["flops"] / 1e9, "predicted_ms": prediction.predicted_ms,
            "substituted": prediction.substituted}, run


def _rounds(runners: dict[str, Any], runtime: str, args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Every model timed once per round, in a shuffled order each round (seeded): per model, each
    round's wall and thread-CPU samples and the process's CPU share while it ran. Interleaving
    spreads the machine's slow drifts over every model instead of charging them to a few, and the
    models of a Table 5 family run back to back (in a shuffled order), so each round's ratio is
    taken under one state of the machine, as ``cspcost compare --profile`` pairs them."""
    import random

    from cspcost.latency.measure import timed
    from cspcost.latency.runtimes import torch_threads

    groups, rng = _families(list(runners)), random.Random(0)
    out: dict[str, list[dict[str, Any]]] = {spec: [] for spec in runners}
    with torch_threads(args.threads):
        for i in range(args.rounds):
            rng.shuffle(groups)
            for group in groups:
                rng.shuffle(group)
            for spec in [spec for group in groups for spec in group]:
                cpu0, wall0 = time.process_time(), time.perf_counter()
                wall, cpu = timed(runners[spec], 2, args.repeat)
                share = (time.process_time() - cpu0) / max(time.perf_counter() - wall0, 1e-9)
                out[spec].append({"wall": wall, "cpu": cpu, "cpu_share": share})
            _say(f"[{runtime}] round {i + 1}/{args.rounds} done")
    return out


def _families(models: list[str]) -> list[list[str]]:
    """The models grouped by Table 5's pairs (a model in several pairs joins them into one family);
    every other model alone."""
    family = {m: {m} for m in models}
    for a, b in PAIRS:
        if a in family and b in family and family[a] is not family[b]:
            merged = family[a] | family[b]
            for m in merged:
                family[m] = merged
    seen: list[set[str]] = []
    for m in models:
        if not any(family[m] is s for s in seen):
            seen.append(family[m])
    return [sorted(s, key=models.index) for s in seen]


def _measured(row: dict[str, Any], rounds: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Fill a row's measured figures from its rounds: the median of the round medians."""
    # One thread: the thread's CPU time is what the machine's other load does not inflate (the
    # calibration uses the same clock); the wall-clock median is kept beside it.
    use_cpu = args.threads == 1 and args.clock == "thread"
    per_round = [statistics.median(r["cpu" if use_cpu else "wall"]) * 1e3 for r in rounds]
    walls = sorted(s * 1e3 for r in rounds for s in r["wall"])
    measured = statistics.median(per_round)
    row.update({"measured_ms": measured, "round_ms": per_round, "wall_ms": statistics.median(walls),
                "thread_cpu_ms": statistics.median(s * 1e3 for r in rounds for s in r["cpu"]),
                "p10_ms": walls[len(walls) // 10], "p90_ms": walls[(9 * len(walls)) // 10],
                "error": row["predicted_ms"] / measured - 1,
                "cpu_share": statistics.median(r["cpu_share"] for r in rounds)})


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and p90 absolute error and rank correlation, for the model and the FLOPs line."""
    from cspcost.latency.fit import spearman

    if not rows:
        return {}
    measured = [r["measured_ms"] for r in rows]
    out: dict[str, Any] = {"models": len(rows)}
    for name, key in (("calibrated", "predicted_ms"), ("flops_loo", "flops_loo_ms")):
        if not all(key in r for r in rows):
            continue
        predicted = [r[key] for r in rows]
        errors = sorted(abs(p / m - 1) for p, m in zip(predicted, measured))
        out[name] = {"median_abs_err": statistics.median(errors), "p90_abs_err": _p90(errors),
                     "spearman": spearman(predicted, measured)}
    out["median_cpu_share"] = statistics.median(r["cpu_share"] for r in rows)
    return out


def _p90(sorted_errors: list[float]) -> float:
    """The 90th percentile (linear interpolation)."""
    pos = (len(sorted_errors) - 1) * 0.9
    lo, hi = int(pos), min(int(pos) + 1, len(sorted_errors) - 1)
    return sorted_errors[lo] + (sorted_errors[hi] - sorted_errors[lo]) * (pos - lo)


def _pairs(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Table 5's pairs: FLOPs, predicted and measured ratios (CSP / baseline) from this run; the
    measured one is the median of the per-round ratios, with their range."""
    by = {r["model"]: r for r in rows if r.get("measured_ms")}
    out = []
    for csp, base in PAIRS:
        if csp in by and base in by:
            a, b = by[csp], by[base]
            ratios = sorted(x / y for x, y in zip(a["round_ms"], b["round_ms"]))
            measured, predicted = statistics.median(ratios), a["predicted_ms"] / b["predicted_ms"]
            out.append({"model": csp, "vs": base, "flops_ratio": a["gflops"] / b["gflops"],
                        "measured_ratio": measured, "measured_ratio_range": [ratios[0], ratios[-1]],
                        "predicted_ratio": predicted, "ratio_error": predicted / measured - 1})
    return out


def _stamp() -> dict[str, Any]:
    """When, and how busy the machine was."""
    import platform

    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_avg_1min": load[0],
            "cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "onnxruntime": _ort_version()}


def _ort_version() -> str:
    """onnxruntime's version, or "-"."""
    try:
        import onnxruntime

        return str(onnxruntime.__version__)
    except ImportError:
        return "-"


def _write(report: dict[str, Any], stem: str) -> str:
    """Write the .json and .md files whole; the Markdown text."""
    from cspcost.files import write_atomic

    text = _markdown(report)
    write_atomic(f"{stem}.json", json.dumps(report, indent=2, default=str) + "\n")
    write_atomic(f"{stem}.md", text)
    return text


def _markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: per runtime the summary, the per-model table and the pairs."""
    started = report["started"]
    lines = ["# Predicted vs measured latency", "",
             f"Regenerate with `python benchmarks/predict_vs_measure.py`. Batch 1, {report['threads']} thread(s); "
             f"every model timed in {report.get('rounds', 1)} rounds (a shuffled pass over all models each), "
             f"{report['repeat']} forwards after 2 warm-up ones per round; a model's time is the median of its round "
             f"medians ({_clock_text(report)}); calibration made in the same run. "
             f"torch {started['torch']}, onnxruntime {started['onnxruntime']}, {started['cpus']} CPUs; load average "
             f"{started['load_avg_1min']:.1f} at the start"
             + (f", {report['finished']['load_avg_1min']:.1f} at the end." if "finished" in report else "."), ""]
    for runtime, result in report["runtimes"].items():
        lines += _runtime_markdown(runtime, result)
    return "\n".join(lines) + "\n"


def _clock_text(report: dict[str, Any]) -> str:
    """What "measured" means in this report."""
    if report.get("clock") == "thread" and report["threads"] == 1:
        return "measured = the timed thread's CPU time, which other processes' load does not inflate; wall-clock medians in the JSON"
    return "measured = wall-clock time"


def _runtime_markdown(runtime: str, result: dict[str, Any]) -> list[str]:
    """One runtime's section."""
    s = result["summary"]
    lines = [f"## {runtime}", ""]
    if s:
        lines += ["| predictor | models | median abs. error | p90 abs. error | rank correlation |",
                  "|---|---:|---:|---:|---:|"]
        for name, label in (("calibrated", "cspcost (calibrated)"), ("flops_loo", "FLOPs only (a x GFLOPs + b, leave-one-out)")):
            if name in s:
                v = s[name]
                lines.append(f"| {label} | {s['models']} | {100 * v['median_abs_err']:.1f}% | "
                             f"{100 * v['p90_abs_err']:.1f}% | {v['spearman']:.3f} |")
        lines += ["", f"Median CPU share while timing: {s['median_cpu_share']:.2f} (1.00 = the timed thread never waited).", ""]
    lines += ["| model | GFLOPs | measured ms | predicted ms | error | FLOPs-only ms | error |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        if not r.get("measured_ms"):
            lines.append(f"| {r['model']} | | | | skipped: {r['skipped']} | | |")
            continue
        loo = r.get("flops_loo_ms")
        loo_text = f"{loo:.2f} | {100 * (loo / r['measured_ms'] - 1):+.1f}%" if loo is not None else "- | -"
        lines.append(f"| {r['model']} | {r['gflops']:.2f} | {r['measured_ms']:.2f} | {r['predicted_ms']:.2f} | "
                     f"{100 * r['error']:+.1f}% | {loo_text} |")
    if result["pairs"]:
        lines += ["", f"Table 5 pairs under {runtime} (ratios CSP / baseline; measured: the median of the per-round "
                  "ratios, their range beside it):", "",
                  "| model | vs | FLOPs ratio | measured ratio | rounds' range | predicted ratio | predicted vs measured |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for p in result["pairs"]:
            low, high = p.get("measured_ratio_range", [p["measured_ratio"]] * 2)
            lines.append(f"| {p['model']} | {p['vs']} | {p['flops_ratio']:.3f} | {p['measured_ratio']:.3f} | "
                         f"{low:.3f}-{high:.3f} | {p['predicted_ratio']:.3f} | {100 * p['ratio_error']:+.1f}% |")
    return lines + [""]


def _say(text: str, end: str = "\n") -> None:
    """Progress on stderr."""
    print(text, end=end, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
