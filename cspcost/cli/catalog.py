"""The listing and checking commands: ``rules``, ``conventions``, ``models`` and ``formulas``."""
from __future__ import annotations

from typing import Optional

import typer

from cspcost.cli.app import _reporting, app, err
from cspcost.cli.options import (
    _CONVENTION_HELP,
    ConventionName,
)
from cspcost.cli.output import (
    Format,
    FormatOption,
    _emit,
    _emit_frame,
    _with_progress,
)

@app.command()
def rules(
    fmt: FormatOption = Format.table,
) -> None:
    """List the op cost registry: every aten op cspcost prices or declares free, with its convention.

    Example: `cspcost rules --format md`
    """
    with _reporting():
        import pandas as pd

        from cspcost.render import tables
        from cspcost.walk.rules import listed

        frame = pd.DataFrame(
            [{"op": r.op, "kind": r.kind, "convention": r.doc} for r in listed()]
        ).sort_values(["kind", "op"])
        _emit_frame(frame, fmt, "", table=tables.rules_table(frame))


@app.command()
def conventions(
    fmt: FormatOption = Format.table,
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
    convention: ConventionName = typer.Option(ConventionName("pytorch"), "--convention", help=_CONVENTION_HELP),
    fmt: FormatOption = Format.table,
) -> None:
    """List the zoo: every model with its family, baseline, input size, params, FLOPs and CIO.

    Examples: `cspcost models`, `cspcost models --convention darknet --format json`
    """
    with _reporting():
        from cspcost.api import models_table
        from cspcost.render import tables

        frame = models_table(convention.value)
        _emit_frame(frame, fmt, "", table=tables.zoo_table(frame, convention.value))


@app.command()
def formulas(
    c: str = typer.Option("32,64,256", "--c", help="Base channels c (comma-separated)."),
    d: str = typer.Option("16,32", "--d", help="Growth rates d."),
    m: str = typer.Option("1,3,6", "--m", help="Dense layers per block m."),
    size: str = typer.Option("8,14", "--size", help="Square feature-map sides w = h."),
    gamma: str = typer.Option("1/4,1/2,1", "--gamma", help="Split ratios gamma (share entering the block)."),
    kernel: str = typer.Option("1,3", "--kernel", help="Dense-layer kernel sizes k (odd: the forms assume 'same' padding)."),
    fusion: str = typer.Option("none,first,last,csp", "--fusion", help="Fusions of the paper's Fig. 3."),
    bottleneck: Optional[int] = typer.Option(None, "--bottleneck", help="DenseNet-B layers: 1x1 to B channels first (B at least 1)."),
    explain: bool = typer.Option(False, "--explain", help="Print each formula with its assumptions and source, then exit."),
    zoo: bool = typer.Option(False, "--zoo", help="Check the formulas against the zoo's DenseNet-201 dense blocks instead."),
    show_all: bool = typer.Option(False, "--all", help="List every configuration in the table, not only disagreements."),
    fmt: FormatOption = Format.table,
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
            from cspcost.formulas.sweep import zoo_dense_blocks

            frame = zoo_dense_blocks()
            view = views.formula_zoo(frame) if fmt is Format.table else frame
            _emit_frame(view, fmt, "paper's dense-block CIO formula vs walker, zoo dense blocks")
            return
        from cspcost.formulas import sweep as fc

        configs = fc.parse_grid(c, d, m, size, gamma, kernel, fusion, bottleneck)
        frame = _with_progress(lambda progress: fc.sweep(configs, progress), "checking closed forms")
        agree = int(frame["agree"].sum())
        title = f"{agree} of {len(frame)} configurations agree exactly"
        if fmt is Format.table:
            title += " (f: closed form, w: walker)"
            _emit_frame(views.formula_sweep(frame, show_all), fmt, title)
        else:
            _emit_frame(frame, fmt, title)
        err.print(f"{agree} of {len(frame)} configurations agree exactly")
        if agree != len(frame):
            raise typer.Exit(1)
