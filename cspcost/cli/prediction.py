"""The latency model's command (``explain``) and the machine-file lookup ``analyze --predict``,
``compare --predict`` and ``device --calibrate`` share."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import typer

from cspcost.cli.app import _reporting, app, err
from cspcost.cli.options import _MODEL_HELP, _input_shape
from cspcost.cli.output import Format, FormatOption, _emit, _emit_frame, _emit_section, _with_phases, _with_progress

if TYPE_CHECKING:
    from cspcost.latency.machine import MachineProfile

_MACHINE_HELP = "A machine file (cspcost device --calibrate --out FILE, or a hand-written roofline file); default: this machine's cached calibration, made first if missing."
_RUNTIME_HELP = "The runtime to predict for: eager, onnxruntime or openvino (default: the machine file's, else eager)."


def machine_file(machine: Optional[str], runtime: Optional[str], threads: Optional[int]) -> MachineProfile:
    """The machine file to predict with (calibrating this machine under a progress bar if needed);
    its notes and warnings go to stderr."""
    from cspcost.latency.engine import machine_for

    def work(progress: object) -> tuple[MachineProfile, list[str]]:
        step = lambda done, total, _label: progress(done, total)  # type: ignore[operator]  # noqa: E731
        return machine_for(machine, runtime, threads, progress=step)

    profile, notes = _with_progress(work, f"calibrating {runtime or 'eager'} (first use on this machine)")
    for line in notes:
        err.print(f"warning: {line}" if "differ" in line or "calibrated with" in line else line,
                  markup=False, soft_wrap=True)
    if profile.is_bound:
        err.print(f"note: {profile.device} is a roofline file: predicted_ms are lower bounds, not measurements",
                  markup=False, soft_wrap=True)
    return profile


def calibrate_and_show(runtime: str, threads: int, quick: bool, refresh: bool, out: Optional[str], fmt: Format) -> None:
    """Calibrate (or reuse this machine's cached calibration) and print its per-class summary."""
    from cspcost.latency.calibrate import calibrate as run_calibration
    from cspcost.latency.engine import machine_for
    from cspcost.latency.machine import save
    from cspcost.latency.report import machine_frame

    def work(progress: Callable[[int, int], None]) -> tuple[MachineProfile, list[str]]:
        step = lambda done, total, _label: progress(done, total)  # noqa: E731
        if quick:  # a smoke grid is never cached: predictions keep using the full calibration
            return run_calibration(runtime, threads, "quick", progress=step), []
        return machine_for(None, runtime, threads, refresh=refresh, progress=step)

    profile, notes = _with_progress(work, f"calibrating {runtime}, {threads} thread(s)")
    for line in notes:
        err.print(line, markup=False, soft_wrap=True)
    if out:
        save(profile, out)
        err.print(f"wrote {out}")
    if fmt is Format.json:
        _emit(profile.to_json(), None)
        return
    _emit_frame(machine_frame(profile), fmt, f"latency model: {profile.runtime}, {profile.threads} thread(s)",
                max_rows=64)


@app.command("explain")
def explain_cmd(
    model: str = typer.Argument(..., help=_MODEL_HELP),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="Input size CxHxW (default: the model's own)."),
    size: Optional[int] = typer.Option(None, "--size", "-s", min=1, help="Square input side with 3 channels."),
    machine: Optional[str] = typer.Option(None, "--machine", help=_MACHINE_HELP),
    threads: int = typer.Option(1, "--threads", min=1, help="CPU threads (as the calibration's)."),
    runtime: Optional[str] = typer.Option(None, "--runtime", "-r", help="eager (every op timed by a dispatch mode), onnxruntime (its profiler, at the level the machine file is calibrated for) or openvino (its performance counters); default: the machine file's, else eager."),
    repeat: int = typer.Option(10, "--repeat", min=1, help="Instrumented per-layer runs."),
    top: int = typer.Option(8, "--top", min=1, help="Layers listed where time and FLOPs disagree most."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Also write the chart (per-layer measured vs predicted, and the roofline) to this PNG."),
    fmt: FormatOption = Format.table,
) -> None:
    """Why FLOPs do not predict time: measured per-layer time beside FLOPs, bytes and the calibrated prediction.

    Prints how much of the per-layer time variance FLOPs alone explain against the calibrated model (R^2,
    rank correlation), the layers where time and FLOPs disagree most with the reason, and the share of
    time in layers with zero FLOPs.

    Examples:

    * `cspcost explain cspmobilenetv2`
    * `cspcost explain cspmobilenetv2 --runtime onnxruntime` (ONNX Runtime's per-node times)
    * `cspcost explain ultralytics:yolo11n.yaml --size 320 --plot yolo11n_explain.png`
    """
    with _reporting():
        from cspcost.latency.explain import explain
        from cspcost.latency.report import disagreement_view, summary_lines

        from cspcost.sources import resolve_model

        resolve_model(model)  # an unknown model is one line before a first-use calibration, not after
        profile = machine_file(machine, runtime, threads)
        result = _with_phases(lambda progress: explain(model, profile, _input_shape(input, size), threads=threads,
                                                       repeat=repeat, top=top, progress=progress))
        if plot:
            from cspcost.files import atomic_path
            from cspcost.render.latency import explain_figure

            figure = explain_figure(result.layers, profile.peak_gflops, profile.bandwidth_gbs, result.model)
            with atomic_path(plot) as tmp:
                figure.savefig(tmp, dpi=110, format="png", metadata={"Software": None})
            err.print(f"wrote {plot}")
        if fmt is Format.json:
            import json

            _emit(json.dumps(result.to_dict(), indent=2, default=str) + "\n", None)
            return
        label = "bound" if profile.is_bound else "predicted"
        if fmt is Format.table:
            for line in summary_lines(result.summary, result.model, label):
                _emit(line + "\n", None)
        _emit_section(fmt, "where time and FLOPs disagree most")
        from cspcost.render import tables

        view = disagreement_view(result.disagreements)
        title = "where time and FLOPs disagree most (time share minus FLOPs share)"
        _emit_frame(view, fmt, title, table=tables.text_table(view, title, left=("layer", "reason")))
