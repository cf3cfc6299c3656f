"""``cspcost report``: the committed reference report (every zoo CSP pair, Table 3, today's CSP
models from timm and Ultralytics, every ecosystem's published figures beside cspcost's, an index),
and with ``--latency`` the paper's Table 5 measured on this machine (``table5.md``)."""
from __future__ import annotations

import importlib.util
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from cspcost.comparison.engine import Comparison, tabulate
from cspcost.comparison.output import write_report
from cspcost.render.export import to_csv, to_markdown
from cspcost.files import write_atomic
from cspcost.render.folders import check_output_path, written_whole
from cspcost.render.html import available as html_available
from cspcost.render.html import write_plotly_js
from cspcost.render.tables import rounded
from cspcost.walk.analysis import AnalysisResult, analyze

# Today's cross-stage partial models beside their predecessors: (convention, common input or
# None for each model's own, specs). Ultralytics' nano line C3 (YOLOv5u) -> C2f (YOLOv8) -> C3k2
# + C2PSA (YOLO11); timm's CSP backbones against their plain versions, both at 256.
MODERN: tuple[tuple[str, tuple[int, ...] | None, tuple[str, ...]], ...] = (
    ("ultralytics", None, ("ultralytics:yolov5nu.yaml", "ultralytics:yolov8n.yaml", "ultralytics:yolo11n.yaml")),
    ("timm", (3, 256, 256), ("timm:resnet50", "timm:cspresnet50")),
    ("timm", (3, 256, 256), ("timm:darknet53", "timm:cspdarknet53")),
)
_LIBRARIES = ("timm", "torchvision", "ultralytics")


def zoo_pairs() -> list[tuple[str, ...]]:
    """Every (baseline, CSP model) pair of the zoo, plus the Fig. 7 detectors when registered."""
    import cspcost_models as zoo

    pairs = [(zoo.get(n).baseline, n) for n in zoo.list_models() if zoo.get(n).baseline]
    detectors = ("peleenet_yolo", "peleenet_prn", "csppeleenet_efm")
    if all(d in zoo.list_models() for d in detectors):
        pairs.append(detectors)
    return pairs


def table3(analyses: dict[str, AnalysisResult] | None = None) -> pd.DataFrame:
    """The paper's Table 3 beside cspcost's figures (darknet counting), for every zoo model.

    Args:
        analyses: darknet-convention results already made, by model name (the rest are made here).
    """
    import cspcost_models as zoo

    rows = []
    for name in zoo.list_models():
        spec = zoo.get(name)
        if spec.family == "example":
            continue
        result = (analyses or {}).get(name) or analyze(name, convention="darknet")
        rows.append({  # fixed decimals, as the paper prints them (strings keep trailing zeros)
            "model": name, "input": spec.input_size[-1],
            "params_M": f"{result.totals['params'] / 1e6:.2f}",
            "paper_params_M": "-" if spec.paper_params is None else f"{spec.paper_params / 1e6:.2f}",
            "bflops": f"{result.totals['flops'] / 1e9:.3f}",
            "paper_bflops": "-" if spec.paper_bflops is None else f"{spec.paper_bflops:g}",
            "cio_M": f"{result.totals['cio_elems'] / 1e6:.1f}",
        })
    return pd.DataFrame(rows)


def libraries_missing() -> list[str]:
    """The optional model libraries not installed (the modern sections need them all)."""
    return [name for name in _LIBRARIES if importlib.util.find_spec(name) is None]


def _modern_dir(specs: tuple[str, ...]) -> str:
    """``modern/yolov5nu_vs_yolov8n_vs_yolo11n`` for a tuple of library specs."""
    names = [spec.partition(":")[2].removesuffix(".yaml") for spec in specs]
    return "modern/" + ("timm_" if specs[0].startswith("timm:") else "") + "_vs_".join(names)


def modern_comparisons(out: Path) -> tuple[list[Path], list[str]]:
    """Each MODERN comparison's charts and summary; the files and the index lines linking them."""
    written: list[Path] = []
    lines = ["## Today's CSP models", "",
             "Cross-stage partial blocks as timm and Ultralytics ship them, each under its ecosystem's "
             "own counting (`--convention timm`: fvcore's, at 256 for both; `--convention ultralytics`: "
             "thop on the fused model, at 640).", ""]
    for convention, size, specs in MODERN:
        results = [analyze(spec, size, convention=convention) for spec in specs]
        folder = _modern_dir(specs)
        written += _pair_report(tabulate(results), out, folder)
        totals = ", ".join(f"{spec.partition(':')[2].removesuffix('.yaml')} {r.totals['flops'] / 1e9:.2f} GFLOPs "
                           f"{r.totals['params'] / 1e6:.2f} M" for spec, r in zip(specs, results))
        lines.append(f"- [{' vs '.join(specs)}]({folder}/summary.md){_interactive(folder)} ({convention}): {totals}")
    return written, lines


def zoo_report(out: str | Path, progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """The committed reference report: each pair's charts and summary, Table 3, today's CSP models,
    the published figures beside cspcost's, and an index; the folder is written whole (files of
    other commands in it, such as budgets.toml and table5.md, stay)."""
    with written_whole(out) as tmp:
        files = _write_zoo_report(tmp, progress)
    return [Path(out) / f.relative_to(tmp) for f in files]


def _write_zoo_report(out: Path, progress: Callable[[int, int], None] | None) -> list[Path]:
    """zoo_report's files, into the folder ``out``."""
    written: list[Path] = []
    pairs = zoo_pairs()
    analyses: dict[str, AnalysisResult] = {}  # each model analysed once, however many pairs it is in
    steps = len(pairs) + 2
    for i, pair in enumerate(pairs):
        for name in pair:
            if name not in analyses:
                analyses[name] = analyze(name, convention="darknet")
        written += _pair_report(tabulate([analyses[name] for name in pair]), out, "_vs_".join(pair))
        if progress:
            progress(i + 1, steps)
    frame = table3(analyses)
    index = ["# cspcost reference report", "",
             "Regenerate with `cspcost report --out reports/`. Every figure below uses the darknet "
             "convention (the paper's counting: conv weights only; FLOPs = 2 x conv MACs + pool "
             "windows; CIO over conv, pool and global-pool layers).", "",
             "## Table 3: the paper's figures beside cspcost's", "", to_markdown(frame),
             "## CSP models against their baselines", ""]
    index += [f"- [{' vs '.join(pair)}]({'_vs_'.join(pair)}/summary.md){_interactive('_vs_'.join(pair))}"
              for pair in pairs]
    index += [""] + _modern_sections(out, written)
    if progress:
        progress(steps - 1, steps)
    index += ["", "## Table 5: measured latency", "",
              "`table5.md` beside this file: FLOPs, CIO and measured CPU latency ratios of every pair, "
              "with 95% intervals and the environment stamp, written by `cspcost report --latency` "
              "(`--runtime eager,onnxruntime,openvino`: one ratio column per runtime; it measures: run it on a "
              "quiet machine)."]
    if html_available():  # one plotly.js for every index.html (each would be ~5 MB with it embedded)
        index += ["", "Each pair's `index.html` is an interactive report (open it in a browser; it loads "
                  "`plotly.min.js` from this folder, so keep the two together)."]
        written.append(write_plotly_js(out))
    write_atomic(out / "README.md", "\n".join(index) + "\n")
    if progress:
        progress(steps, steps)
    return [*written, out / "README.md"]


def _pair_report(comparison: Comparison, out: Path, folder: str) -> list[Path]:
    """A comparison's charts and summary.md, and its interactive index.html (with plotly installed)
    loading the one plotly.min.js at the report's root."""
    plotly_src = "../" * len(Path(folder).parts) + "plotly.min.js" if html_available() else None
    return write_report(comparison, out / folder, plotly_src=plotly_src)


def _interactive(folder: str) -> str:
    """The index's link to a pair's interactive report, when one is written."""
    return f" ([interactive]({folder}/index.html))" if html_available() else ""


def _modern_sections(out: Path, written: list[Path]) -> list[str]:
    """Today's CSP models and the published-vs-cspcost table (appending files to ``written``), or a
    note naming the libraries they need."""
    missing = libraries_missing()
    if missing:
        warnings.warn(f"skipped the sections \"Today's CSP models\" and \"Published vs cspcost\": they need "
                      f"{', '.join(missing)} (pip install 'cspcost[all]')", stacklevel=2)
        return ["## Today's CSP models; published figures", "",
                f"Skipped: needs {', '.join(missing)} (`pip install 'cspcost[all]'`).", ""]
    from cspcost.published import published_table

    files, lines = modern_comparisons(out)
    written += files
    table = published_table()
    return [*lines, "", "## Published vs cspcost", "",
            "Each ecosystem's printed figure beside cspcost's at the same precision (`exact`: "
            "cspcost's integer), under the convention that reproduces it.", "",
            to_markdown(table.drop(columns=["source"]))]


TABLE5_ROUNDS = 20  # rounds per pair: a 95% interval from ranks 6 and 15 of 20 ratios, ~2 min in all


def table5(pairs: Sequence[tuple[str, ...]] | None = None, *, rounds: int = TABLE5_ROUNDS, warmup: int = 3,
           processes: int = 1, measure: Callable[..., Any] | None = None,
           progress: Callable[[int, int], None] | None = None,
           runtimes: Sequence[str] = ("eager",)) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The paper's Table 5 question on this machine: is each CSP model faster, and did FLOPs say so?

    Args:
        pairs: (baseline, CSP model, ...) tuples; default ``zoo_pairs()`` (the detectors included).
        rounds, warmup, processes: of each pair's paired measurement (``profiling.paired``).
        measure: the paired measurer (default ``paired``; injectable for tests).
        progress: called with (measurements done, pairs x runtimes).
        runtimes: each pair is measured under each of these (``profile --runtime``), one after another.
    Returns:
        One row per model and runtime against its pair's first model (FLOPs and CIO ratios under
        darknet counting, the latency ratio with its 95% interval, the verdicts), and the environment
        (with each runtime's version).
    """
    from cspcost.errors import UsageError
    from cspcost.profiling.intervals import MIN_SAMPLES
    from cspcost.profiling.paired import paired

    if not isinstance(rounds, int) or rounds < MIN_SAMPLES:  # before minutes of analysis, not after
        raise UsageError(f"rounds must be an integer of at least {MIN_SAMPLES}, got {rounds!r}")
    pairs, measure = list(pairs or zoo_pairs()), measure or paired
    analyses: dict[str, AnalysisResult] = {}
    rows, env = [], {}
    done = 0
    for pair in pairs:
        for name in pair:
            analyses.setdefault(name, analyze(name, convention="darknet"))
        for runtime in runtimes:
            result = measure(list(pair), rounds=rounds, warmup=warmup, processes=processes, runtime=runtime)
            env = _busiest(env, {k: v for k, v in result.environment.items() if k not in _RUN_ONLY})
            rows += [{**_table5_row(analyses[pair[0]], analyses[m.name], result.models[0], m),
                      "runtime": runtime, "cpu_share": result.environment.get("cpu_share"),
                      "load_avg_1min": result.environment.get("load_avg_1min"),
                      "warnings": "; ".join(result.warnings + [w for t in result.models for w in t.warnings])}
                     for m in result.models[1:]]
            done += 1
            if progress:
                progress(done, len(pairs) * len(runtimes))
    return pd.DataFrame(rows), env


# Stamp fields of one model's run (files, export and compile times), not of the machine or versions.
_RUN_ONLY = {"onnx_file", "onnx_export_s", "onnx_cached", "prepare_s", "max_abs_diff_vs_eager", "compile_s",
             "runtime", "prepared"}


def _busiest(seen: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """The stamp with the busiest machine state of all pairs: lowest CPU share, highest load and steal."""
    if not seen:
        return dict(env)
    merged = {**env, **seen}  # a runtime measured later adds its versions
    for key, pick in (("cpu_share", min), ("load_avg_1min", max), ("cpu_steal_share", max)):
        values = [v for v in (seen.get(key), env.get(key)) if isinstance(v, (int, float)) and v == v]
        if values:
            merged[key] = pick(values)
    return merged


def _table5_row(base: AnalysisResult, model: AnalysisResult, base_timed: Any, timed: Any) -> dict[str, Any]:
    """One Table 5 row: cost ratios, latency ratio and interval, and the two verdicts."""
    flops_ratio = model.totals["flops"] / base.totals["flops"]
    low, high = timed.ratio.low, timed.ratio.high
    faster = "yes" if high < 1 else "no, slower" if low > 1 else "no difference"
    predicted = "yes" if (flops_ratio < 1) == (timed.ratio.median < 1) and timed.significant else "no"
    return {
        "baseline": base.model, "model": model.model, "input": model.input_shape[0][-1],
        "flops_ratio": flops_ratio, "cio_ratio": model.totals["cio_elems"] / base.totals["cio_elems"],
        "baseline_ms": base_timed.latency.median_ms, "model_ms": timed.latency.median_ms,
        "latency_ratio": timed.ratio.median, "latency_ratio_low": low, "latency_ratio_high": high,
        "csp_faster": faster, "flops_predicted": predicted,
    }


def table5_markdown(frame: pd.DataFrame, env: dict[str, Any], rounds: int, note: str = "") -> str:
    """table5.md: the table for people, how it was measured, and the environment stamp."""
    if "runtime" in frame and frame["runtime"].nunique() > 1:
        return _table5_runtimes_markdown(frame, env, rounds, note)
    lines = ["# Table 5 on this machine: is the CSP model faster, and did FLOPs predict it?", "",
             "Regenerate with `cspcost report --latency` (on a quiet machine). FLOPs and CIO under darknet "
             "counting (the paper's); latency on CPU, each group of models timed interleaved in one "
             f"process ({rounds} rounds after warm-up, order shuffled with a fixed seed, 1 thread, batch 1). "
             "Latency ratio: median of the per-round ratios against the first model, with its 95% "
             "interval: the hull of the distribution-free order-statistics interval of the median over "
             "the rounds and over six consecutive blocks of rounds (so drift in the ratio widens it). "
             "'CSP faster' is *yes* when the whole interval is below 1; 'FLOPs predicted' is *yes* when "
             "the latency difference is significant and has the sign of the FLOPs difference.", "",
             "| model | vs | input | FLOPs ratio | CIO ratio | ms | vs ms | latency ratio [95%] | CSP faster | FLOPs predicted |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in frame.itertuples(index=False):
        lines.append(f"| {r.model} | {r.baseline} | {r.input} | {r.flops_ratio:.3f} | {r.cio_ratio:.3f} | "
                     f"{rounded(r.model_ms)} | {rounded(r.baseline_ms)} | {r.latency_ratio:.3f} "
                     f"[{r.latency_ratio_low:.3f}-{r.latency_ratio_high:.3f}] | {r.csp_faster} | {r.flops_predicted} |")
    lines += ["", "## Environment", "", "The busiest state seen over all pairs (lowest CPU share, highest "
              "load and steal); each pair's own is in table5.csv.", "",
              *(f"- {k}: {_stamp_value(v)}" for k, v in env.items()), ""]
    noisy = [f"- {r.model} vs {r.baseline}: {r.warnings}" for r in frame.itertuples(index=False)
             if getattr(r, "warnings", "")]
    if noisy:
        lines += ["## Warnings", "", *noisy, ""]
    return "\n".join(lines)


def _table5_runtimes_markdown(frame: pd.DataFrame, env: dict[str, Any], rounds: int, note: str) -> str:
    """table5.md with one latency-ratio column per runtime beside the FLOPs and CIO ratios."""
    runtimes = list(dict.fromkeys(frame["runtime"]))
    lines = ["# Table 5 per runtime: is the CSP model faster, under each runtime, and did FLOPs predict it?", "",
             *([note, ""] if note else []),
             "Regenerate with `cspcost report --latency --runtime " + ",".join(runtimes) + "` (on a quiet "
             "machine). FLOPs and CIO under darknet counting (the paper's). Latency on CPU, 1 thread, batch 1: "
             f"each pair timed interleaved in one process under each runtime in turn ({rounds} rounds after "
             "warm-up, order shuffled with a fixed seed); the ratio is the median of the per-round ratios "
             "against the baseline with its distribution-free 95% interval. ONNX runtimes run the "
             "dynamo-exported model (checked against eager); OpenVINO at its f32 precision hint. A mark after "
             "the interval: `+` the CSP model is significantly faster, `-` significantly slower, `=` no "
             "significant difference.", "",
             "| model | vs | input | FLOPs ratio | CIO ratio | " + " | ".join(f"{r} ratio [95%]" for r in runtimes) + " |",
             "|---|---|---:|---:|---:|" + "---:|" * len(runtimes)]
    for (model, base), group in frame.groupby(["model", "baseline"], sort=False):
        first = group.iloc[0]
        cells = {r.runtime: f"{r.latency_ratio:.3f} [{r.latency_ratio_low:.3f}-{r.latency_ratio_high:.3f}] "
                            f"{_mark(r.latency_ratio_low, r.latency_ratio_high)}" for r in group.itertuples(index=False)}
        lines.append(f"| {model} | {base} | {first['input']} | {first['flops_ratio']:.3f} | {first['cio_ratio']:.3f} | "
                     + " | ".join(cells.get(r, "-") for r in runtimes) + " |")
    ms = frame.pivot_table(index=["model", "baseline"], columns="runtime", values="model_ms", sort=False)
    lines += ["", "Median latency of the CSP model (ms) under each runtime: "
              + "; ".join(f"{m} (vs {b}): " + ", ".join(f"{r} {rounded(ms.loc[(m, b), r])}" for r in runtimes if r in ms)
                          for m, b in ms.index), "",
              "## Environment", "", "The busiest state seen over all measurements (lowest CPU share, highest "
              "load and steal) and the runtimes' versions; each measurement's own is in table5.csv.", "",
              *(f"- {k}: {_stamp_value(v)}" for k, v in env.items()), ""]
    return "\n".join(lines)


def _mark(low: float, high: float) -> str:
    """+ faster, - slower, = no significant difference (from the 95% interval of the ratio)."""
    return "+" if high < 1 else "-" if low > 1 else "="


def _stamp_value(value: Any) -> str:
    """A stamp value for the file: shares as percentages, other floats to 3 significant digits."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def latency_report(out: str | Path, rounds: int = TABLE5_ROUNDS, processes: int = 1,
                   progress: Callable[[int, int], None] | None = None, runtimes: Sequence[str] = ("eager",),
                   note: str = "") -> list[Path]:
    """Measure Table 5 for every zoo pair (under each runtime) and write ``out/table5.md`` and its CSV.

    Args:
        note: a sentence put under the title (e.g. that the machine was loaded).
    """
    check_output_path(out, "the output directory")
    frame, env = table5(rounds=rounds, processes=processes, progress=progress, runtimes=runtimes)
    env = {**env, "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    out = Path(out)
    write_atomic(out / "table5.md", table5_markdown(frame, env, rounds, note))
    write_atomic(out / "table5.csv", to_csv(frame))
    return [out / "table5.md", out / "table5.csv"]
