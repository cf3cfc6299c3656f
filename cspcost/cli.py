"""The ``cspcost`` command line: option declarations plus one call into the library each.

The only module that prints or chooses an exit code: 0 ok, 1 budget exceeded, 2 bad usage or
input, 3 internal error. Data goes to stdout, diagnostics to stderr. torch is imported only inside
the commands that need it, so ``cspcost --help`` stays fast.
"""
from __future__ import annotations

import dataclasses
import sys
import warnings
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, TypeVar

import typer
from rich.console import Console

from cspcost import __version__
from cspcost.errors import CspcostError, UnsupportedOpsWarning

if TYPE_CHECKING:  # annotations only: the CLI imports torch-backed modules inside commands
    import pandas as pd

    from cspcost.comparison.engine import Comparison
    from cspcost.profiling.result import ProfileResult
    from cspcost.walk.analysis import AnalysisResult

T = TypeVar("T")

app = typer.Typer(
    name="cspcost",
    help="What a CNN really costs, layer by layer: MACs, FLOPs, params, CIO memory traffic, bytes.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
err = Console(stderr=True, highlight=False)
_STATE = {"debug": False}


class Format(str, Enum):
    """Output formats."""

    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


class Cio(str, Enum):
    """CIO conventions (cspcost conventions lists them)."""

    hardnet = "hardnet"
    hardnet_fc = "hardnet-fc"
    cspnet = "cspnet"


class ConventionName(str, Enum):
    """Counting conventions (cspcost conventions lists them)."""

    pytorch = "pytorch"
    darknet = "darknet"
    torchvision = "torchvision"
    timm = "timm"
    ultralytics = "ultralytics"


_CONVENTION_HELP = "pytorch (every op and parameter), darknet (the CSPNet paper's counting), or the numbers torchvision, timm or ultralytics publish (cspcost conventions)."
_CIO_HELP = "CIO: hardnet (conv layers, HarDNet's definition), hardnet-fc (conv + FC as 1x1 conv) or cspnet (also pools). Default: hardnet; cspnet under darknet."
_MODEL_HELP = "Zoo name, timm:NAME, torchvision:NAME, ultralytics:NAME.yaml, a .yaml (Ultralytics) or .cfg (darknet) file, path/to/file.py:factory or package.module:factory."


@contextmanager
def _reporting() -> Iterator[None]:
    """Turn errors into one line on stderr and the documented exit code (traceback with --debug);
    print the library's unsupported-op warnings (analyze, compare, check alike) as one line each."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", UnsupportedOpsWarning)
            warnings.showwarning = _show_warning
            yield
    except CspcostError as exc:
        if _STATE["debug"]:
            raise
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort):
        raise
    except OSError as exc:  # a path the user gave that cannot be written or read
        if _STATE["debug"]:
            raise
        err.print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - anything else is our bug: exit 3
        if _STATE["debug"]:
            raise
        err.print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                  markup=False, soft_wrap=True)
        raise typer.Exit(3) from None


def _settle_heap() -> None:
    """Move everything imported so far (torch's many objects) out of the garbage collector's sight.

    The objects a short CLI run makes trigger full collections that walk all of torch's import-time
    heap again and again (0.15 s of a fresh `cspcost analyze`); frozen objects are never freed,
    which costs nothing in a process that ends after one command.
    """
    import gc

    gc.freeze()


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """A warning as one ``warning: ...`` line on stderr."""
    err.print(f"warning: {message}", markup=False, soft_wrap=True)


def _input_shape(input: Optional[str], size: Optional[int]) -> Optional[tuple[int, ...]]:
    """``--input CxHxW`` or ``--size S`` (3xSxS), never both; None for the model's own."""
    from cspcost.errors import UsageError
    from cspcost.shapes import parse_input

    if input and size is not None:
        raise UsageError("give --input or --size, not both")
    return parse_input(input) if input else ((3, size, size) if size is not None else None)


def _version(value: bool) -> None:
    """Print the version and exit."""
    if value:
        typer.echo(f"cspcost {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
) -> None:
    """cspcost: per-layer MACs, FLOPs, params and CIO of CNNs, checked against the CSPNet paper."""
    _STATE["debug"] = debug


def _emit(text: str, output: Optional[str]) -> None:
    """Write to ``output`` atomically, or to stdout."""
    if output:
        from cspcost.render.files import write_atomic

        write_atomic(output, text)
        err.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@app.command()
def analyze(
    model: str = typer.Argument(..., help=_MODEL_HELP),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="Input size CxHxW, e.g. 3x256x256 (default: the model's own)."),
    size: Optional[int] = typer.Option(None, "--size", "-s", min=1, help="Square input side with 3 channels (same as --input 3xSxS)."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    device: str = typer.Option("meta", "--device", help="meta (no allocation, no kernels), cpu or cuda."),
    depth: Optional[int] = typer.Option(None, "--depth", min=0, help="Aggregate layers at this module depth (1 = top-level blocks)."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Show only the N heaviest layers (by --sort, default flops)."),
    sort: Optional[str] = typer.Option(None, "--sort", help="Sort by a column: flops, macs, params, cio_elems, bytes_read, ..."),
    convention: ConventionName = typer.Option(ConventionName.pytorch, "--convention", help=_CONVENTION_HELP),
    cio: Optional[Cio] = typer.Option(None, "--cio", help=_CIO_HELP),
    fuse_bn: bool = typer.Option(False, "--fuse-bn", help="Treat BN right after a conv as folded into it (deployment)."),
    shortcut_flops: bool = typer.Option(False, "--shortcut-flops", help="darknet 2020+ counting: each [shortcut] costs one add per output element."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) if any op has no cost rule."),
    csp: bool = typer.Option(False, "--csp", help="Also find the cross-stage partial blocks: gamma, fusion, costs by role."),
    graph: Optional[str] = typer.Option(None, "--graph", help="Also write the dataflow graph: FILE.dot (Graphviz, CSP roles filled) or FILE.json."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or md."),
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
    """
    with _reporting():
        from cspcost.shapes import parse_input
        from cspcost.structure import find_csp
        from cspcost.walk.analysis import analyze as run_analysis

        _settle_heap()
        shape = _input_shape(input, size)
        result = run_analysis(model, shape, batch, device=device, convention=convention.value,
                              cio=cio.value if cio else None, fuse_bn=fuse_bn, shortcut_flops=shortcut_flops,
                              strict=strict, depth=depth)
        result = find_csp(result) if csp else result
        if graph:
            from cspcost.render.files import write_atomic
            from cspcost.structure import graph_text

            write_atomic(graph, graph_text(result, graph))
            err.print(f"wrote {graph}")
        _emit(_format_analysis(result, fmt, top, sort), output)


@app.command()
def compare(
    models: list[str] = typer.Argument(..., help="Two or more models (any spec analyze takes); deltas are against the first."),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="One input size CxHxW for all (default: each model's own)."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    convention: ConventionName = typer.Option(ConventionName.pytorch, "--convention", help=_CONVENTION_HELP),
    cio: Optional[Cio] = typer.Option(None, "--cio", help=_CIO_HELP),
    fuse_bn: bool = typer.Option(False, "--fuse-bn", help="Treat BN right after a conv as folded into it."),
    plot: bool = typer.Option(False, "--plot", help="Write the Fig. 7 / Fig. 8 charts, a per-block breakdown and summary.md."),
    out: Optional[str] = typer.Option(None, "--out", help="Directory for --plot (default reports/<A>_vs_<B>/)."),
    depth: int = typer.Option(2, "--block-depth", min=0, help="Module depth of the blocks in the breakdown chart."),
    profile: bool = typer.Option(False, "--profile", help="Also measure latency (on --profile-device): all models interleaved in one process, ratios vs the first with 95% intervals (per layer with --plot)."),
    csp: bool = typer.Option(False, "--csp", help="Also put the models' cross-stage partial blocks side by side."),
    rounds: int = typer.Option(12, "--rounds", help="With --profile: timed rounds per process (each model once per round; at least 6)."),
    processes: int = typer.Option(3, "--processes", help="With --profile: fresh processes to measure in, merged (1: this one only)."),
    profile_device: str = typer.Option("cpu", "--profile-device", help="With --profile: cpu or cuda."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or md."),
) -> None:
    """Models side by side: params, MACs, FLOPs, CIO, bytes, the computational bottleneck, peak memory.

    Examples:

    * `cspcost compare resnext50 cspresnext50`
    * `cspcost compare resnext50 cspresnext50 --convention darknet --plot`
    * `cspcost compare peleenet_yolo peleenet_prn csppeleenet_efm --convention darknet --plot`
    * `cspcost compare resnext50 cspresnext50 --csp` (per-stage table, CSP blocks side by side)
    * `cspcost compare resnet10 cspresnet10 --profile --format json`
    """
    with _reporting():
        from cspcost.comparison.engine import compare as run_compare
        from cspcost.comparison.output import write_report
        from cspcost.errors import UsageError
        from cspcost.shapes import parse_input

        if len(models) < 2:
            raise UsageError("compare needs at least two models")
        _settle_heap()
        latency = _latency_measurer(batch, profile_device, rounds, processes, plot) if profile else None
        result = run_compare(models, parse_input(input) if input else None, batch, convention=convention.value,
                             cio=cio.value if cio else None, fuse_bn=fuse_bn, latency=latency, csp=csp)
        _warn_latency(result.latency)
        if plot:
            target = out or f"reports/{'_vs_'.join(_safe(m) for m in models)}"
            for path in write_report(result, target, depth):
                err.print(f"wrote {path}")
        _emit_comparison(result, fmt)


@app.command("report")
def zoo_report(
    out: str = typer.Option("reports", "--out", help="Directory to (re)write."),
    latency: bool = typer.Option(False, "--latency", help="Instead, measure Table 5 (CPU latency ratios of every pair, ~2 min) into table5.md."),
    rounds: int = typer.Option(20, "--rounds", help="With --latency: timed rounds per pair (at least 6)."),
    processes: int = typer.Option(1, "--processes", help="With --latency: repeat each pair in N fresh processes and merge."),
) -> None:
    """Regenerate the reference report: every CSP model vs its baseline (charts, summary.md) and Table 3.

    Examples: `cspcost report --out reports/`, `cspcost report --latency` (measures; run it on a quiet machine)
    """
    with _reporting():
        from cspcost.report import latency_report
        from cspcost.report import zoo_report as run_report

        if latency:
            files = _with_progress(lambda progress: latency_report(out, rounds, processes, progress), "timing the zoo pairs")
        else:
            files = _with_progress(lambda progress: run_report(out, progress), "writing the zoo report")
        err.print(f"wrote {len(files)} files under {out}")


def _safe(spec: str) -> str:
    """A model spec as a directory-name part."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.rsplit("/", 1)[-1]).strip("_")


def _latency_measurer(batch: int, device: str, rounds: int, processes: int,
                      per_layer: bool) -> Callable[[Any, Any], Any]:
    """A (models, input) -> LatencyReport callable: the paired, interleaved measurement."""
    from cspcost.comparison.engine import paired_latency

    return lambda models, size: _with_phases(lambda progress: paired_latency(
        models, size, batch=batch, device=device, rounds=rounds, processes=processes,
        per_layer=per_layer, progress=progress))


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
    import json

    from cspcost.render import tables

    if fmt is Format.json:
        _emit(json.dumps(result.to_dict(), indent=2, default=str) + "\n", None)
    else:
        _emit_frame(result.table, fmt, "", table=tables.comparison_table(result.table, result.results[0].convention.label()))
        if fmt in (Format.table, Format.md) and result.stages is not None:
            from cspcost.render import views

            stages = views.stage_deltas(result.stages, result.labels)
            key = views.legend(result.labels)
            _emit_section(fmt, f"per stage (output stride, order): {key}")
            _emit_frame(stages, fmt, f"per stage (output stride, order): {key}", max_rows=len(stages))
            if all(r.csp_blocks is not None for r in result.results):
                side = views.csp_side_by_side(*result.csp_views())
                _emit_section(fmt, f"CSP blocks by stage: {key}")
                _emit_frame(side, fmt, f"CSP blocks by stage: {key}", max_rows=max(1, len(side)))


def _emit_section(fmt: Format, title: str) -> None:
    """A Markdown heading before a further table (the terminal table carries its title itself)."""
    if fmt is Format.md:
        _emit(f"\n## {title}\n\n", None)


@app.command("profile")
def profile_cmd(
    model: str = typer.Argument(..., help=_MODEL_HELP),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="Input size CxHxW (default: the model's own)."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    threads: Optional[int] = typer.Option(1, "--threads", help="CPU threads (default 1: reproducible on a shared machine)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, float16 or bfloat16."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory format."),
    warmup: int = typer.Option(10, "--warmup", help="Untimed forwards first."),
    repeat: int = typer.Option(30, "--repeat", help="Timed forwards."),
    min_time: Optional[float] = typer.Option(None, "--min-time", help="A time budget in seconds instead of --repeat."),
    per_layer: bool = typer.Option(False, "--per-layer", help="Also time every layer, joined with FLOPs, bytes and the roofline."),
    depth: Optional[int] = typer.Option(None, "--depth", min=0, help="Aggregate per-layer times at this module depth."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="With --per-layer: the N slowest layers."),
    processes: int = typer.Option(1, "--processes", help="Repeat the measurement in N fresh processes and merge them (not with --per-layer)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or md."),
) -> None:
    """Real latency: median, IQR, throughput, spread (CV) with warnings when a run is unstable; per layer with --per-layer.

    Examples:

    * `cspcost profile resnet50`
    * `cspcost profile cspresnext50 --per-layer --depth 2 --top 15`
    * `cspcost profile mobilenetv2 --device cuda --dtype float16 --batch 32`
    * `cspcost profile resnet10 --processes 3` (three fresh processes, merged)
    """
    with _reporting():
        from cspcost.profiling.run import profile
        from cspcost.shapes import parse_input

        result = _with_phases(lambda progress: profile(
            model, parse_input(input) if input else None, batch, device=device, threads=threads, dtype=dtype,
            channels_last=channels_last, warmup=warmup, repeat=repeat, min_time=min_time,
            per_layer=per_layer, depth=depth, progress=progress, processes=processes))
        _emit_profile(result, fmt, top)


def _with_phases(work: Callable[[Callable[[str, int, Optional[int]], None]], T]) -> T:
    """Run ``work(progress)`` with a rich progress bar fed (phase, done, total)."""
    from rich.progress import Progress

    # Only on a terminal: piped or in CI, stderr keeps just the one-line messages.
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        tasks: dict[str, int] = {}

        def progress(phase: str, done: int, total: Optional[int]) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        return work(progress)


def _emit_profile(result: ProfileResult, fmt: Format, top: Optional[int]) -> None:
    """The profile in the chosen format: a summary and, with per-layer data, the layer table."""
    from cspcost.render import export, tables, views

    layers = result.layers
    if layers is not None and top:
        layers = layers.sort_values("measured_ms", ascending=False).head(top)
    if fmt is Format.json:
        _emit(result.to_json() + "\n", None)
    elif fmt in (Format.csv, Format.md) and layers is not None:
        _emit(export.to_csv(layers) if fmt is Format.csv else export.to_markdown(layers), None)
    elif fmt in (Format.csv, Format.md):
        frame = views.latency(result)
        _emit(export.to_csv(frame) if fmt is Format.csv else export.to_markdown(frame), None)
    else:
        _emit(views.profile_block(result), None)
        if layers is not None:
            view = views.profile_layers(layers, tables.TABLE_WIDTH)
            _emit(tables.render_text(tables.text_table(view, "per layer", left=("layer", "type", "bound"))), None)
            if result.layer_summary:
                err.print(views.layer_summary_line(result.layer_summary), markup=False, soft_wrap=True)
    for line in result.warnings:
        err.print(f"warning: {line}", markup=False, soft_wrap=True)


@app.command()
def device(
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, float16 or bfloat16."),
    threads: Optional[int] = typer.Option(1, "--threads", help="CPU threads (as profile uses)."),
    refresh: bool = typer.Option(False, "--refresh", help="Measure again even if a cached result matches."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or md."),
) -> None:
    """Measure (and cache) this machine's peak matmul/conv GFLOP/s and memory bandwidth GB/s.

    Example: `cspcost device --refresh`
    """
    with _reporting():
        import json

        import pandas as pd

        from cspcost.profiling.peaks import measure_peaks
        from cspcost.render import tables

        peaks = _with_phases(lambda progress: measure_peaks(device, dtype=dtype, threads=threads,
                                                            refresh=refresh, progress=progress))
        data = peaks.to_dict()
        if fmt is Format.json:
            _emit(json.dumps(data, indent=2, default=str) + "\n", None)
            return
        flat = {k: v for k, v in data.items() if k != "stamp"} | {f"stamp.{k}": v for k, v in data["stamp"].items()}
        frame = pd.DataFrame({"field": list(flat), "value": [f"{v:.4g}" if isinstance(v, float) else str(v) for v in flat.values()]})
        _emit_frame(frame, fmt, "device peaks", max_rows=len(frame))


@app.command()
def check(
    budgets_file: str = typer.Argument(..., metavar="BUDGETS.toml", help="TOML file: one [model] table of *_max limits each."),
    update: bool = typer.Option(False, "--update", help="Rewrite the file's limits from current measurements (comments kept)."),
    junit: Optional[str] = typer.Option(None, "--junit", help="Also write a JUnit XML report here."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or md."),
) -> None:
    """Fail (exit 1) when a model exceeds its budget: the CI gate against models silently getting heavier.

    Limits: cio_elems_max, flops_max, macs_max, params_max, bottleneck_flops_max, latency_ms_max,
    csp_block_flops_max, csp_block_params_max, csp_block_cio_elems_max (the heaviest CSP block);
    options per model: input, convention, cio, tolerance (relative), batch.

    Examples: `cspcost check reports/budgets.toml`, `cspcost check budgets.toml --junit budgets.xml`,
    `cspcost check budgets.toml --update`
    """
    with _reporting():
        from pathlib import Path

        from cspcost import budgets as b
        from cspcost.api import check_budgets
        from cspcost.render import tables, views
        from cspcost.render.files import write_atomic

        outcomes = _with_progress(lambda progress: check_budgets(budgets_file, progress), "measuring budgets")
        if update:
            text = Path(budgets_file).read_text(encoding="utf-8")
            measured = {(o.model, o.metric): o.measured for o in outcomes}
            write_atomic(budgets_file, b.updated_text(text, measured))
            err.print(f"updated {len(measured)} limits in {budgets_file}")
            return
        if junit:
            write_atomic(junit, b.junit_xml(outcomes))
        frame = views.budget_outcomes(outcomes)
        shown = tables.frame_table(views.budget_display(frame), f"budgets: {budgets_file}", len(frame))
        _emit_frame(frame, fmt, "", table=shown)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            err.print(f"{len(failed)} of {len(outcomes)} budgets exceeded: "
                      + ", ".join(f"{o.model} {o.metric}" for o in failed))
            raise typer.Exit(1)
        err.print(f"all {len(outcomes)} budgets hold")


def _format_analysis(result: AnalysisResult, fmt: Format, top: Optional[int], sort: Optional[str]) -> str:
    """The analysis in the chosen format, with --top/--sort applied to the layer rows."""
    from cspcost.errors import UsageError
    from cspcost.render import export, tables

    layers = result.layers
    key = sort or ("flops" if top else None)
    if key:
        if key not in layers.columns:
            raise UsageError(f"cannot sort by {key!r}; columns: {', '.join(layers.columns)}")
        layers = layers.sort_values(key, ascending=key in ("name", "type"), kind="stable")
    if top is not None:
        layers = layers.head(top)
    result = dataclasses.replace(result, layers=layers)
    if fmt is Format.json:
        return result.to_json() + "\n"
    if fmt is Format.csv:
        return export.to_csv(layers)
    if fmt is Format.md:
        return export.to_markdown(layers)
    shapes = ", ".join(tables.shape_text(s) for s in result.input_shape)
    title = f"{result.model}  input {shapes}  ({result.convention.label()})"
    text = tables.render_text(tables.layer_table(layers, result.totals, title))
    if result.csp_blocks is not None:
        from cspcost.render import views

        frame = views.csp_blocks({result.model: result.csp_blocks})
        text += tables.render_text(tables.frame_table(frame, f"{len(result.csp_blocks)} CSP blocks", max(1, len(frame))))
    return text


@app.command()
def rules(
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or md."),
) -> None:
    """List the op cost registry: every aten op cspcost prices or declares free, with its convention.

    Example: `cspcost rules --format md`
    """
    with _reporting():
        import pandas as pd

        from cspcost.render import tables
        from cspcost.walk.rules import RULES

        frame = pd.DataFrame(
            [{"op": r.op, "kind": r.kind, "convention": r.doc} for r in RULES.values()]
        ).sort_values(["kind", "op"])
        _emit_frame(frame, fmt, "", table=tables.rules_table(frame))


@app.command("peers")
def peers_cmd(
    model: str = typer.Argument(..., help=_MODEL_HELP),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="Input size CxHxW, e.g. 3x224x224 (default: the model's own)."),
    size: Optional[int] = typer.Option(None, "--size", "-s", min=1, help="Square input side with 3 channels (same as --input 3xSxS)."),
    depth: int = typer.Option(1, "--depth", help="Layer rows at this module depth (1 = top-level blocks)."),
    tool: Optional[list[str]] = typer.Option(None, "--tool", "-t", help="Only this peer (repeatable): fvcore, ptflops, ptflops-aten, thop, flopcountermode, deepspeed."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights and input."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or md."),
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
        from cspcost.shapes import parse_input

        shape = _input_shape(input, size)
        _emit(format_peers(peers(model, shape, depth=depth, tools=tool or None, seed=seed), fmt.value), output)


@app.command()
def conventions(
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or md."),
) -> None:
    """List the counting conventions: what each counts, whose numbers it reproduces, its per-op rules.

    Example: `cspcost conventions --format md`
    """
    with _reporting():
        from cspcost.render import tables
        from cspcost.walk.conventions.listing import conventions_frame

        frame = conventions_frame()
        _emit_frame(frame, fmt, "", table=tables.conventions_table(frame))


@app.command()
def models(
    convention: ConventionName = typer.Option(ConventionName.pytorch, "--convention", help="pytorch or darknet (the paper's counting)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or md."),
) -> None:
    """List the zoo: every model with its family, baseline, input size, params, FLOPs and CIO.

    Examples: `cspcost models`, `cspcost models --convention darknet --format json`
    """
    with _reporting():
        from cspcost.api import models_table
        from cspcost.render import tables

        frame = models_table(convention.value)
        _emit_frame(frame, fmt, "", table=tables.models_table(frame, convention.value))


@app.command()
def formulas(
    c: str = typer.Option("32,64,256", "--c", help="Base channels c (comma-separated)."),
    d: str = typer.Option("16,32", "--d", help="Growth rates d."),
    m: str = typer.Option("1,3,6", "--m", help="Dense layers per block m."),
    size: str = typer.Option("8,14", "--size", help="Square feature-map sides w = h."),
    gamma: str = typer.Option("1/4,1/2,1", "--gamma", help="Split ratios gamma (share entering the block)."),
    kernel: str = typer.Option("1,3", "--kernel", help="Dense-layer kernel sizes k."),
    fusion: str = typer.Option("none,first,last,csp", "--fusion", help="Fusions of the paper's Fig. 3."),
    bottleneck: Optional[int] = typer.Option(None, "--bottleneck", help="DenseNet-B layers: 1x1 to B channels first."),
    explain: bool = typer.Option(False, "--explain", help="Print each formula with its assumptions and source, then exit."),
    zoo: bool = typer.Option(False, "--zoo", help="Check the formulas against the zoo's DenseNet-201 dense blocks instead."),
    show_all: bool = typer.Option(False, "--all", help="List every configuration in the table, not only disagreements."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or md."),
) -> None:
    """Check the CSPNet paper's closed forms (dense vs partial dense block CIO, MACs, params) against the walker.

    Builds each block of the grid on the meta device, measures it, and compares exactly. Exit 0 when
    every configuration agrees, 1 otherwise.

    Examples: `cspcost formulas`, `cspcost formulas --explain`, `cspcost formulas --c 64 --gamma 1/2 --format csv`,
    `cspcost formulas --zoo`
    """
    with _reporting():
        from cspcost.formulas import EXPLANATIONS
        from cspcost.render import views

        if explain:
            _emit(views.explanations(EXPLANATIONS), None)
            return
        if zoo:
            frame = _zoo_formulas()
            view = views.formula_zoo(frame) if fmt is Format.table else frame
            _emit_frame(view, fmt, "paper's dense-block CIO formula vs walker, zoo dense blocks")
            return
        from cspcost.formulas import sweep as fc
        from cspcost.shapes import parse_fraction_list
        from cspcost.shapes import parse_int_list as ints

        fusions = [f.strip() for f in fusion.split(",") if f.strip()]
        configs = fc.grid(ints(c), ints(d), ints(m), ints(size), parse_fraction_list(gamma),
                          ints(kernel), _check_fusions(fusions), [bottleneck])
        frame = _with_progress(lambda progress: fc.sweep(configs, progress), "checking closed forms")
        agree = int(frame["agree"].sum())
        title = f"{agree} of {len(frame)} configurations agree exactly"
        if fmt is Format.table:
            title += " (f: closed form, w: walker)"
            wrong = frame[~frame["agree"]]
            shown = frame if show_all else (wrong if len(wrong) else frame.head(12))
            _emit_frame(views.formula_sweep(shown), fmt, title)
        else:
            _emit_frame(frame, fmt, title)
        err.print(f"{agree} of {len(frame)} configurations agree exactly")
        if agree != len(frame):
            raise typer.Exit(1)


def _check_fusions(fusions: list[str]) -> list[str]:
    """Validate --fusion names."""
    from cspcost.errors import UsageError
    from cspcost.formulas import FUSIONS

    unknown = [f for f in fusions if f not in FUSIONS]
    if unknown or not fusions:
        raise UsageError(f"unknown fusion {', '.join(unknown) or '(none)'}; use {', '.join(FUSIONS)}")
    return fusions


def _zoo_formulas() -> pd.DataFrame:
    """The zoo's dense blocks against the formula."""
    from cspcost.formulas.sweep import zoo_dense_blocks

    return zoo_dense_blocks()


def _with_progress(work: Callable[[Callable[[int, int], None]], T], label: str) -> T:
    """Run ``work(progress)`` under a rich progress bar on stderr."""
    from rich.progress import Progress

    # Only on a terminal: piped or in CI, stderr keeps just the one-line messages.
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(label, total=None)
        return work(lambda done, total: bar.update(task, completed=done, total=total))


def _emit_frame(frame: pd.DataFrame, fmt: Format, title: str, max_rows: int = 60, table: Any = None) -> None:
    """A DataFrame in the chosen format on stdout; the terminal table is ``table`` if given,
    else a generic one cut at ``max_rows`` rows."""
    from cspcost.render import export, tables

    if fmt is Format.json:
        _emit(frame.to_json(orient="records", indent=2) + "\n", None)
    elif fmt is Format.csv:
        _emit(export.to_csv(frame), None)
    elif fmt is Format.md:
        _emit(export.to_markdown(frame), None)
    else:
        _emit(tables.render_text(table if table is not None else tables.frame_table(frame, title, max_rows)), None)


def main() -> None:
    """Console-script entry point; ``--debug`` is accepted anywhere on the line."""
    argv = sys.argv[1:]
    if "--debug" in argv:
        argv = ["--debug", *[a for a in argv if a != "--debug"]]
    try:
        code = app(args=argv, prog_name="cspcost", standalone_mode=False)
    except typer.Abort:
        err.print("aborted")
        code = 1
    except Exception as exc:  # noqa: BLE001 - only click's (or typer's vendored click's) usage errors
        if not callable(getattr(exc, "format_message", None)):
            # --debug: the traceback was asked for, but the exit code stays the documented one
            import traceback

            traceback.print_exc()
            sys.exit(exc.exit_code if isinstance(exc, CspcostError) else 3)
        # Bad options get one line, as every other usage error does, not click's usage panel.
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path} --help" if ctx is not None else "cspcost --help"
        err.print(f"error: {exc.format_message()} (see {where})", markup=False, soft_wrap=True)
        code = getattr(exc, "exit_code", 2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
