"""The commands that time real kernels: ``profile`` and ``device``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from cspcost.cli.app import _reporting, app, err
from cspcost.cli.options import (
    _HTML_HELP,
    _MODEL_HELP,
    _ORT_LEVEL_HELP,
)
from cspcost.cli.output import (
    Format,
    FormatOption,
    _emit,
    _emit_frame,
    _with_phases,
    renderer,
)

if TYPE_CHECKING:
    import pandas as pd

    from cspcost.profiling.paired_result import PairedResult
    from cspcost.profiling.result import ProfileResult

_RUNTIME_HELP = ("eager (PyTorch), compile (torch.compile, inductor), onnxruntime or openvino; several, comma-"
                 "separated, are timed interleaved with ratios to the first. onnxruntime needs cspcost[onnx], "
                 "openvino cspcost[openvino].")


@app.command("profile")
def profile_cmd(
    model: str = typer.Argument(..., help=_MODEL_HELP),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="Input size CxHxW (default: the model's own)."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    threads: Optional[int] = typer.Option(1, "--threads", help="CPU threads, 1 to this machine's CPUs (default 1: reproducible on a shared machine)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, float16 or bfloat16."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory format."),
    warmup: int = typer.Option(10, "--warmup", help="Untimed forwards first (0 or more; the first forward, checking the model runs, is always one)."),
    repeat: int = typer.Option(30, "--repeat", help="Timed forwards."),
    min_time: Optional[float] = typer.Option(None, "--min-time", help="A time budget in seconds instead of --repeat."),
    per_layer: bool = typer.Option(False, "--per-layer", help="Also time every layer, joined with FLOPs, bytes and the roofline."),
    depth: Optional[int] = typer.Option(None, "--depth", min=1, help="Aggregate per-layer times at this module depth."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="With --per-layer: the N slowest layers."),
    processes: int = typer.Option(1, "--processes", help="Repeat the measurement in N fresh processes and merge them (not with --per-layer)."),
    runtime: str = typer.Option("eager", "--runtime", "-r", help=_RUNTIME_HELP),
    precision: str = typer.Option("f32", "--precision", help="OpenVINO's inference precision: f32 (comparable with the others) or default (the runtime's own, bf16 on AVX-512-bf16 CPUs)."),
    ort_level: str = typer.Option("all", "--ort-level", help=_ORT_LEVEL_HELP),
    onnx_cache: Optional[str] = typer.Option(None, "--onnx-cache", help="Directory of cached ONNX exports (default onnx/ in the cache directory: $CSPCOST_CACHE_DIR or ~/.cache/cspcost)."),
    html: Optional[str] = typer.Option(None, "--html", help=_HTML_HELP + " Implies --per-layer."),
    fmt: FormatOption = Format.table,
) -> None:
    """Real latency: median, IQR, throughput, spread (CV) with warnings when a run is unstable; per layer with --per-layer.

    Examples:

    * `cspcost profile resnet50`
    * `cspcost profile cspresnext50 --per-layer --depth 2 --top 15`
    * `cspcost profile mobilenetv2 --device cuda --dtype float16 --batch 32`
    * `cspcost profile resnet10 --processes 3` (three fresh processes, merged)
    * `cspcost profile timm:cspresnet50 --runtime onnxruntime --per-layer` (per layer under ORT)
    * `cspcost profile resnet50 --runtime eager,onnxruntime,openvino` (interleaved, ratios to eager)
    * `cspcost profile resnet10 --html r10.html` (interactive report: measured and predicted time per layer)
    """
    with _reporting():
        from cspcost.errors import UsageError
        from cspcost.profiling.paired_result import PairedResult
        from cspcost.profiling.run import profile
        from cspcost.render.html import check_target, write_html
        from cspcost.shapes import parse_input

        if html is not None:
            check_target(html)
            if processes != 1:
                raise UsageError("--html shows per-layer times, measured in one process; drop --processes")
            if "," in runtime:
                raise UsageError("--html shows one runtime's per-layer times; give one --runtime")
            per_layer = True
        if ort_level != "all" and "onnxruntime" not in runtime:
            err.print("warning: --ort-level applies to --runtime onnxruntime; ignored here", markup=False, soft_wrap=True)
        result = _with_phases(lambda progress: profile(
            model, parse_input(input) if input is not None else None, batch, device=device, threads=threads, dtype=dtype,
            channels_last=channels_last, warmup=warmup, repeat=repeat, min_time=min_time,
            per_layer=per_layer, depth=depth, progress=progress, processes=processes, runtime=runtime,
            precision=precision, cache_dir=onnx_cache, ort_level=ort_level))
        if isinstance(result, PairedResult):
            _emit_runtimes(result, fmt)
        else:
            if html:
                err.print(f"wrote {write_html(html, result)}")
            _emit_profile(result, fmt, top)


def _emit_profile(result: ProfileResult, fmt: Format, top: Optional[int]) -> None:
    """The profile in the chosen format: a summary and, with per-layer data, the layer table."""
    from cspcost.render import views

    layers = result.layers
    if layers is not None and top:
        layers = layers.sort_values("measured_ms", ascending=False).head(top)
    frame = layers if layers is not None else views.latency(result)
    _emit(renderer(fmt).result(result, frame, lambda: _profile_text(result, layers)), None)
    if fmt.value == "table" and layers is not None and result.layer_summary:
        err.print(views.layer_summary_line(result.layer_summary), markup=False, soft_wrap=True)
    if fmt.value == "table" and layers is not None and views.mapped_line(result):
        err.print(views.mapped_line(result), markup=False, soft_wrap=True)
    for line in result.warnings:
        err.print(f"warning: {line}", markup=False, soft_wrap=True)


def _emit_runtimes(result: PairedResult, fmt: Format) -> None:
    """One model under several runtimes: latency and ratio to the first runtime, with its interval."""
    import json

    from cspcost.render import views

    if fmt.value == "json":
        _emit(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n", None)
    else:
        _emit_frame(views.runtimes_table(result), fmt, f"{result.models[0].name}: {result.rounds} interleaved rounds")
    for line in result.warnings:
        err.print(f"warning: {line}", markup=False, soft_wrap=True)


def _profile_text(result: ProfileResult, layers: Optional[pd.DataFrame]) -> str:
    """The terminal view of a profile: the summary block and, with per-layer data, the layer table."""
    from cspcost.render import tables, views

    text = views.profile_block(result)
    if layers is not None:
        view = views.profile_layers(layers, tables.TABLE_WIDTH)
        text += tables.render_text(tables.text_table(view, "per layer", left=("layer", "type", "bound")))
    return text


@app.command()
def device(
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, float16 or bfloat16."),
    threads: Optional[int] = typer.Option(1, "--threads", help="CPU threads, 1 to this machine's CPUs (as profile uses)."),
    refresh: bool = typer.Option(False, "--refresh", help="Measure again even if a cached result matches."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Instead, calibrate the latency model: microbenchmarks per op class, fitted and cached as a machine file."),
    runtime: str = typer.Option("eager", "--runtime", help="With --calibrate: eager, onnxruntime or openvino."),
    quick: bool = typer.Option(False, "--quick", help="With --calibrate: a tiny grid (seconds; for tests and a first look)."),
    out: Optional[str] = typer.Option(None, "--out", help="With --calibrate: also write the machine file here."),
    fmt: FormatOption = Format.table,
) -> None:
    """Measure (and cache) this machine's peak matmul/conv GFLOP/s and memory bandwidth GB/s; or, with
    --calibrate, fit the latency model that analyze --predict uses.

    Examples:

    * `cspcost device --refresh`
    * `cspcost device --calibrate` (eager, 1 thread; cached per machine, runtime and threads)
    * `cspcost device --calibrate --runtime onnxruntime --out ort.json`
    """
    with _reporting():
        if calibrate:
            from cspcost.cli.prediction import calibrate_and_show

            calibrate_and_show(runtime, threads or 1, quick, refresh, out, fmt)
            return
        import pandas as pd

        from cspcost.profiling.peaks import measure_peaks
        from cspcost.jsondump import dumps

        peaks = _with_phases(lambda progress: measure_peaks(device, dtype=dtype, threads=threads,
                                                            refresh=refresh, progress=progress))
        data = peaks.to_dict()
        if fmt is Format.json:
            _emit(dumps(data) + "\n", None)
            return
        flat = {k: v for k, v in data.items() if k != "stamp"} | {f"stamp.{k}": v for k, v in data["stamp"].items()}
        frame = pd.DataFrame({"field": list(flat), "value": [f"{v:.4g}" if isinstance(v, float) else str(v) for v in flat.values()]})
        _emit_frame(frame, fmt, "device peaks", max_rows=len(frame))
