"""The measuring commands: ``analyze``, ``compare``, ``report``, ``check`` and ``peers``."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer

from cspcost.cli.app import _reporting, _settle_heap, app, err
from cspcost.cli.prediction import _MACHINE_HELP, _RUNTIME_HELP, machine_file
from cspcost.cli.options import (
    _CIO_HELP,
    _CONVENTION_HELP,
    _HTML_HELP,
    _MODEL_HELP,
    _ORT_LEVEL_HELP,
    Cio,
    ConventionName,
    _input_shape,
)
from cspcost.cli.output import (
    Format,
    FormatOption,
    _emit,
    _emit_frame,
    _emit_section,
    renderer,
    _with_phases,
    _with_progress,
)

if TYPE_CHECKING:  # annotations only: torch-backed modules are imported inside the commands
    from cspcost.comparison.engine import Comparison
    from cspcost.walk.analysis import AnalysisResult


@app.command("analyze")
def analyze_cmd(
    model: str = typer.Argument(..., help=_MODEL_HELP),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="Input size CxHxW, e.g. 3x256x256 (default: the model's own)."),
    size: Optional[int] = typer.Option(None, "--size", "-s", min=1, help="Square input side with 3 channels (same as --input 3xSxS)."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    device: str = typer.Option("meta", "--device", help="meta (no allocation, no kernels), cpu or cuda."),
    depth: Optional[int] = typer.Option(None, "--depth", min=0, help="Aggregate layers at this module depth (1 = top-level blocks)."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Show only the N heaviest layers (by --sort, default flops)."),
    sort: Optional[str] = typer.Option(None, "--sort", help="Sort by a column: flops, macs, params, cio_elems, bytes_read, ..."),
    convention: ConventionName = typer.Option(ConventionName("pytorch"), "--convention", help=_CONVENTION_HELP),
    cio: Optional[Cio] = typer.Option(None, "--cio", help=_CIO_HELP),
    fuse_bn: bool = typer.Option(False, "--fuse-bn", help="Treat BN right after a conv as folded into it (deployment)."),
    shortcut_flops: bool = typer.Option(False, "--shortcut-flops", help="darknet 2020+ counting: each [shortcut] costs one add per output element."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) if any op has no cost rule."),
    csp: bool = typer.Option(False, "--csp", help="Also find the cross-stage partial blocks: gamma, fusion, costs by role."),
    graph: Optional[str] = typer.Option(None, "--graph", help="Also write the dataflow graph: FILE.dot (Graphviz, CSP roles filled) or FILE.json."),
    predict: bool = typer.Option(False, "--predict", help="Also predict latency per layer (predicted_ms, bound) and in total, from the meta capture and a calibrated machine file."),
    machine: Optional[str] = typer.Option(None, "--machine", help=_MACHINE_HELP),
    runtime: Optional[str] = typer.Option(None, "--runtime", help=_RUNTIME_HELP),
    html: Optional[str] = typer.Option(None, "--html", help=_HTML_HELP),
    fmt: FormatOption = Format.table,
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write to this file (atomically) instead of stdout."),
) -> None:
    """Per-layer MACs, FLOPs, params and CIO of a model, on the meta device by default.

    Examples:

    * `cspcost analyze cspresnext50`
    * `cspcost analyze resnext50 --convention darknet --top 10`
    * `cspcost analyze my_net.py:build --input 3x416x416 --depth 1 --format json`
    * `cspcost analyze csresnext50.cfg --convention darknet` (a darknet cfg, layers numbered as darknet prints them)
    * `cspcost analyze timm:cspresnext50 --convention timm --format json` (timm's infer_gmacs)
    * `cspcost analyze ultralytics:yolo11n.yaml --convention ultralytics` (Ultralytics' docs table)
    * `cspcost analyze cspresnext50 --csp` (the CSP blocks: gamma, fusion, FLOPs/params/CIO by role)
    * `cspcost analyze cspmobilenetv2 --predict` (predicted latency per layer: eager, this machine)
    * `cspcost analyze ultralytics:yolo11n.yaml --predict --machine docs/machines/jetson_orin_nano.json` (roofline bounds)
    * `cspcost analyze ultralytics:yolo11x.yaml --html yolo11x.html` (interactive report, one file)
    """
    with _reporting(strict_option=True):
        from cspcost.render.folders import check_output_path
        from cspcost.render.html import check_target, write_html
        from cspcost.structure import find_csp
        from cspcost.walk.analysis import analyze

        check_output_path(output, "--output")
        check_output_path(graph, "--graph")
        _settle_heap()
        if html is not None:
            check_target(html)  # before the analysis: a bad path fails fast
        shape = _input_shape(input, size)
        result = analyze(model, shape, batch, device=device, convention=convention.value,
                         cio=cio.value if cio else None, fuse_bn=fuse_bn, shortcut_flops=shortcut_flops,
                         strict=strict, depth=depth)
        result = find_csp(result) if csp else result
        if predict or machine:
            from cspcost.latency.engine import add_prediction
            from cspcost.latency.predict import predict as run_predict

            profile = machine_file(machine, runtime, None)
            result = add_prediction(result, run_predict(model, profile, shape, batch))
        if graph:
            from cspcost.files import write_atomic
            from cspcost.render.graph import graph_text
            from cspcost.structure import op_roles

            assert result.graph is not None  # analyze always records the dataflow
            write_atomic(graph, graph_text(result.graph, graph, op_roles(result.graph)))
            err.print(f"wrote {graph}")
        if html:
            err.print(f"wrote {write_html(html, result)}")
        _emit(_format_analysis(result, fmt, top, sort), output)


def _format_analysis(result: AnalysisResult, fmt: Format, top: Optional[int], sort: Optional[str]) -> str:
    """The analysis in the chosen format, with --top/--sort applied to the layer rows."""
    from cspcost.errors import UsageError

    layers = result.layers
    key = sort or ("flops" if top else None)
    if key:
        if key not in layers.columns:
            raise UsageError(f"cannot sort by {key!r}; columns: {', '.join(layers.columns)}")
        layers = layers.sort_values(key, ascending=key in ("name", "type"), kind="stable")
    if top is not None:
        layers = layers.head(top)
    result = dataclasses.replace(result, layers=layers)
    return renderer(fmt).result(result, layers, lambda: _analysis_text(result))


def _analysis_text(result: AnalysisResult) -> str:
    """The terminal view of an analysis: the layer table and any CSP blocks."""
    from cspcost.render import tables

    layers = result.layers
    shapes = ", ".join(tables.shape_text(s) for s in result.input_shape)
    title = f"{result.model}  input {shapes}  ({result.convention.label()})"
    text = tables.render_text(tables.layer_table(layers, result.totals, title))
    if "predicted_ms" in layers:
        from cspcost.latency.report import prediction_view

        t = result.totals
        head = (f"{t['predicted_label']} latency: {t['predicted_ms']:.2f} ms ({t['predicted_runtime']}, "
                f"{t['predicted_threads']} thread(s), {t['predicted_device']}; fixed overheads "
                f"{t['predicted_overhead_ms']:.2f} ms)")
        view = prediction_view(layers)
        text += tables.render_text(tables.text_table(view, head, left=("layer", "type", "bound")))
    if result.csp_blocks is not None:
        from cspcost.render import views

        frame = views.csp_blocks({result.model: result.csp_blocks})
        text += tables.render_text(tables.frame_table(frame, f"{len(result.csp_blocks)} CSP blocks", max(1, len(frame))))
    return text


@app.command("compare")
def compare_cmd(
    models: list[str] = typer.Argument(..., help="Two or more models (any spec analyze takes); deltas are against the first."),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="One input size CxHxW for all (default: each model's own)."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    convention: ConventionName = typer.Option(ConventionName("pytorch"), "--convention", help=_CONVENTION_HELP),
    cio: Optional[Cio] = typer.Option(None, "--cio", help=_CIO_HELP),
    fuse_bn: bool = typer.Option(False, "--fuse-bn", help="Treat BN right after a conv as folded into it."),
    plot: bool = typer.Option(False, "--plot", help="Write the Fig. 7 / Fig. 8 charts, a per-block breakdown and summary.md."),
    out: Optional[str] = typer.Option(None, "--out", help="Directory for the charts (default `reports/<A>_vs_<B>/`); implies --plot."),
    depth: int = typer.Option(2, "--block-depth", min=0, help="Module depth of the blocks in the breakdown chart."),
    profile: bool = typer.Option(False, "--profile", help="Also measure latency (on --profile-device): all models interleaved in one process, ratios vs the first with 95% intervals (per layer with --plot)."),
    csp: bool = typer.Option(False, "--csp", help="Also put the models' cross-stage partial blocks side by side."),
    rounds: int = typer.Option(12, "--rounds", help="With --profile: timed rounds per process (each model once per round; at least 6)."),
    processes: int = typer.Option(3, "--processes", help="With --profile: fresh processes to measure in, merged (1: this one only)."),
    profile_device: str = typer.Option("cpu", "--profile-device", help="With --profile: cpu or cuda."),
    predict: bool = typer.Option(False, "--predict", help="Also the predicted latency and its ratio vs the first model, beside the FLOPs and CIO ratios."),
    machine: Optional[str] = typer.Option(None, "--machine", help=_MACHINE_HELP),
    runtime: Optional[str] = typer.Option(None, "--runtime", "-r", help="With --profile: the runtime every model runs under: eager (default), compile, onnxruntime or openvino. With --predict: the runtime to predict for, eager, onnxruntime or openvino (default: the machine file's, else eager)."),
    ort_level: Optional[str] = typer.Option(None, "--ort-level", help=_ORT_LEVEL_HELP + " Default: all; with --predict, the machine file's."),
    html: Optional[str] = typer.Option(None, "--html", help=_HTML_HELP),
    fmt: FormatOption = Format.table,
) -> None:
    """Models side by side: params, MACs, FLOPs, CIO, bytes, the computational bottleneck, peak memory.

    Examples:

    * `cspcost compare resnext50 cspresnext50`
    * `cspcost compare resnext50 cspresnext50 --convention darknet --plot`
    * `cspcost compare peleenet_yolo peleenet_prn csppeleenet_efm --convention darknet --plot`
    * `cspcost compare resnext50 cspresnext50 --csp` (per-stage table, CSP blocks side by side)
    * `cspcost compare resnet10 cspresnet10 --profile --format json`
    * `cspcost compare mobilenetv2 cspmobilenetv2 --predict --profile` (predicted vs measured latency ratio)
    * `cspcost compare resnet10 cspresnet10 --profile --runtime onnxruntime` (paired under ONNX Runtime)
    * `cspcost compare resnet10 cspresnet10 --html r10.html` (interactive report, one file; with --profile, per-layer times)
    """
    with _reporting():
        from cspcost.comparison.engine import compare
        from cspcost.comparison.output import default_folder, write_report
        from cspcost.errors import UsageError
        from cspcost.render.folders import check_output_path
        from cspcost.render.html import check_target, write_html
        from cspcost.shapes import parse_input

        check_output_path(out, "--out")
        if html is not None:
            check_target(html)
        _settle_heap()
        if runtime is not None and not (profile or predict or machine):
            raise UsageError("--runtime applies to --profile and --predict; add one of them")
        if predict or machine:
            from cspcost.sources import resolve_model

            for spec in models:  # an unknown model is one line before a first-use calibration, not after
                resolve_model(spec)
        calibrated = machine_file(machine, runtime, None) if (predict or machine) else None
        # Measured under what is predicted: the machine file's runtime unless --runtime says.
        measured = runtime or (calibrated.runtime if calibrated is not None and not calibrated.is_bound else "eager")
        level = _ort_level(ort_level, profile and measured == "onnxruntime", calibrated)
        latency = (_latency_measurer(batch, profile_device, rounds, processes, plot or bool(out) or bool(html),
                                     measured, level) if profile else None)
        result = compare(models, parse_input(input) if input is not None else None, batch, convention=convention.value,
                         cio=cio.value if cio else None, fuse_bn=fuse_bn, latency=latency, csp=csp)
        _warn_latency(result.latency)
        if calibrated is not None:
            from cspcost.latency.engine import compare_predicted

            result = compare_predicted(result, models, calibrated, parse_input(input) if input is not None else None, batch)
        if plot or out:  # --out names where the charts go: asking for it asks for them
            target = out or default_folder(models)
            for path in write_report(result, target, depth):
                err.print(f"wrote {path}")
        if html:
            err.print(f"wrote {write_html(html, result)}")
        _emit_comparison(result, fmt)


def _latency_measurer(batch: int, device: str, rounds: int, processes: int,
                      per_layer: bool, runtime: str = "eager", ort_level: str = "all") -> Callable[[Any, Any], Any]:
    """A (models, input) -> LatencyReport callable: the paired, interleaved measurement."""
    from cspcost.comparison.engine import paired_latency
    from cspcost.profiling.runtimes import get_runtime

    get_runtime(runtime)  # unknown or not installed: one line before any model is built
    return lambda models, size: _with_phases(lambda progress: paired_latency(
        models, size, batch=batch, device=device, rounds=rounds, processes=processes,
        per_layer=per_layer, progress=progress, runtime=runtime, ort_level=ort_level))


def _ort_level(given: Optional[str], ort_profiled: bool, calibrated: Any) -> str:
    """ONNX Runtime's level for ``compare --profile``: the one given, else the machine file's when
    predictions sit beside the measurement (so both are of one setting), else ORT's own default."""
    from cspcost.errors import UsageError
    from cspcost.profiling.spec import ORT_LEVELS

    if given is not None and given not in ORT_LEVELS:
        raise UsageError(f"unknown --ort-level {given!r}; use one of {', '.join(ORT_LEVELS)}")
    if given is not None and not ort_profiled:
        err.print("warning: --ort-level applies to --profile --runtime onnxruntime; ignored here",
                  markup=False, soft_wrap=True)
    predicted = calibrated.ort_level if calibrated is not None else None
    if not ort_profiled or predicted is None:
        return given or "all"
    if given is None:
        err.print(f"note: ONNX Runtime measured at --ort-level {predicted}, the level the latency model is calibrated for",
                  markup=False, soft_wrap=True)
        return predicted
    if given != predicted:
        err.print(f"warning: measured at --ort-level {given}, predicted for {predicted}: the two ratios are of "
                  "different settings", markup=False, soft_wrap=True)
    return given


def _warn_latency(details: Optional[dict[str, Any]]) -> None:
    """The paired measurement's warnings on stderr, one line each."""
    if not details:
        return
    for line in details.get("warnings", []):
        err.print(f"warning: {line}", markup=False, soft_wrap=True)
    for model, lines in details.get("model_warnings", {}).items():
        for line in lines:
            err.print(f"warning: {model}: {line}", markup=False, soft_wrap=True)


def _emit_comparison(result: Comparison, fmt: Format) -> None:
    """The comparison table in the chosen format."""
    from cspcost.render import tables

    if fmt.value == "json":
        _emit(renderer(fmt).result(result, result.table, str), None)
    else:
        _emit_frame(result.table, fmt, "", table=tables.comparison_table(result.table, result.results[0].convention.label()))
        if fmt.value != "csv" and result.stages is not None:
            from cspcost.render import views

            stages = views.stage_deltas(result.stages, result.labels)
            key = views.legend(result.labels)
            _emit_section(fmt, f"per stage (output stride, order): {key}")
            _emit_frame(stages, fmt, f"per stage (output stride, order): {key}", max_rows=len(stages))
            if all(r.csp_blocks is not None for r in result.results):
                side = views.csp_side_by_side(*result.csp_views())
                _emit_section(fmt, f"CSP blocks by stage: {key}")
                _emit_frame(side, fmt, f"CSP blocks by stage: {key}", max_rows=max(1, len(side)))


@app.command("report")
def report_cmd(
    out: str = typer.Option("reports", "--out", help="Directory to (re)write."),
    latency: bool = typer.Option(False, "--latency", help="Instead, measure Table 5 (CPU latency ratios of every pair, ~2 min) into table5.md."),
    rounds: int = typer.Option(20, "--rounds", help="With --latency: timed rounds per pair (at least 6)."),
    processes: int = typer.Option(1, "--processes", help="With --latency: repeat each pair in N fresh processes and merge."),
    runtime: str = typer.Option("eager", "--runtime", "-r", help="With --latency: the runtimes to measure every pair under, e.g. eager,onnxruntime,openvino (one latency-ratio column each)."),
    note: str = typer.Option("", "--note", help="With --latency: a sentence put under table5.md's title (e.g. that the machine was loaded)."),
) -> None:
    """Regenerate the reference report: every CSP model vs its baseline (charts, summary.md) and Table 3.

    Examples: `cspcost report --out reports/`, `cspcost report --latency` (measures; run it on a quiet machine),
    `cspcost report --latency --runtime eager,onnxruntime,openvino` (Table 5 per runtime)
    """
    with _reporting():
        from cspcost.render.folders import check_output_path
        from cspcost.report import latency_report, zoo_report

        check_output_path(out, "--out")
        if latency:
            from cspcost.profiling.runtimes import get_runtime, parse_runtimes

            runtimes = parse_runtimes(runtime)
            for name in runtimes:
                get_runtime(name)  # not installed: one line before minutes of analysis
            files = _with_progress(lambda progress: latency_report(out, rounds, processes, progress, runtimes, note),
                                   "timing the zoo pairs")
        else:
            files = _with_progress(lambda progress: zoo_report(out, progress), "writing the zoo report")
        err.print(f"wrote {len(files)} files under {out}")


@app.command()
def check(
    budgets_file: str = typer.Argument(..., metavar="BUDGETS.toml", help="TOML file: one [model] table of *_max limits each."),
    update: bool = typer.Option(False, "--update", help="Rewrite the file's limits from current measurements (comments, layout, line endings, mode kept)."),
    junit: Optional[str] = typer.Option(None, "--junit", help="Also write a JUnit XML report here."),
    strict: bool = typer.Option(True, "--strict/--no-strict", help="Fail a model whose ops are not all priced (default; a budget's strict = false opts one model out)."),
    cache_dir: Optional[str] = typer.Option(None, "--cache-dir", help="Where measurements are cached (default $CSPCOST_CACHE_DIR or the user cache dir, e.g. ~/.cache/cspcost)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Measure every model afresh; store nothing."),
    fmt: FormatOption = Format.table,
) -> None:
    """Fail (exit 1) when a model exceeds its budget: the CI gate against models silently getting heavier.

    Limits: cio_elems_max, flops_max, macs_max, params_max, bottleneck_flops_max, latency_ms_max,
    csp_block_flops_max, csp_block_params_max, csp_block_cio_elems_max (the heaviest CSP block);
    options per model: input, convention, cio, tolerance (relative), batch, strict. A model with ops
    no rule prices fails (unsupported_ops) unless --no-strict or its budget says strict = false.
    Measurements are cached per model and reused only while its code, settings and versions match.

    Examples: `cspcost check reports/budgets.toml`, `cspcost check budgets.toml --junit budgets.xml`,
    `cspcost check budgets.toml --update`, `cspcost check budgets.toml --no-cache`
    """
    # strict (the default) already fails such a model: only --no-strict has a --strict to point at
    with _reporting(strict_option=not strict):
        from cspcost import budgets as b
        from cspcost.api import check_budgets
        from cspcost.render import tables, views
        from cspcost.files import ensure_replaceable, read_text_exact, write_atomic
        from cspcost.render.folders import check_output_path

        check_output_path(junit, "--junit")
        check_output_path(cache_dir, "--cache-dir")
        if update:  # before minutes of measuring, not after
            ensure_replaceable(budgets_file)
        outcomes = _with_progress(lambda progress: check_budgets(
            budgets_file, progress, strict=strict, cache_dir=cache_dir, cache=not no_cache), "measuring budgets")
        if update:
            measured = {(o.model, o.metric): o.measured for o in outcomes if o.metric != b.UNSUPPORTED}
            write_atomic(budgets_file, b.updated_text(read_text_exact(budgets_file), measured))
        if junit:
            write_atomic(junit, b.junit_xml(outcomes))
        frame = views.budget_outcomes(outcomes)
        shown = tables.frame_table(views.budget_display(frame), f"budgets: {budgets_file}", len(frame))
        _emit_frame(frame, fmt, "", table=shown)
        _check_verdict(outcomes, budgets_file if update else None)


def _check_verdict(outcomes: list[Any], updated: Optional[str]) -> None:
    """The one-line verdict on stderr; exit 1 when a limit is exceeded (never after --update)."""
    failed = [o for o in outcomes if not o.ok]
    if updated is not None:
        limits = sum(o.metric != "unsupported_ops" for o in outcomes)
        err.print(f"updated {limits} limits in {updated}", markup=False, soft_wrap=True)
        if any(o.metric == "unsupported_ops" for o in failed):
            err.print("warning: some models ran ops no rule prices; their new limits are lower bounds",
                      markup=False, soft_wrap=True)
        return
    if failed:
        err.print(f"{len(failed)} of {len(outcomes)} budgets exceeded: "
                  + ", ".join(f"{o.model} {o.metric}" for o in failed), markup=False, soft_wrap=True)
        raise typer.Exit(1)
    err.print(f"all {len(outcomes)} budgets hold")


@app.command("peers")
def peers_cmd(
    model: str = typer.Argument(..., help=_MODEL_HELP),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="Input size CxHxW, e.g. 3x224x224 (default: the model's own)."),
    size: Optional[int] = typer.Option(None, "--size", "-s", min=1, help="Square input side with 3 channels (same as --input 3xSxS)."),
    depth: int = typer.Option(1, "--depth", help="Layer rows at this module depth (1 = top-level blocks)."),
    tool: Optional[list[str]] = typer.Option(None, "--tool", "-t", help="Only this peer (repeatable): fvcore, ptflops, ptflops-aten, thop, flopcountermode, deepspeed."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights and input."),
    fmt: FormatOption = Format.table,
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write to this file (atomically) instead of stdout."),
) -> None:
    """Run fvcore, ptflops, thop and FlopCounterMode on the model; beside each total, cspcost's prediction and why they differ.

    The peers run on the CPU with real (seeded random) weights; cspcost predicts each from its one meta capture.

    Examples:

    * `cspcost peers torchvision:resnet50`
    * `cspcost peers timm:vit_tiny_patch16_224 --format json`
    * `cspcost peers ultralytics:yolo11n.yaml --size 320 --depth 2 --format md`
    """
    with _reporting():
        from cspcost.crosscheck.engine import peers
        from cspcost.crosscheck.output import format_peers
        from cspcost.render.folders import check_output_path

        check_output_path(output, "--output")
        shape = _input_shape(input, size)
        _emit(format_peers(peers(model, shape, depth=depth, tools=tool or None, seed=seed), renderer(fmt)), output)
