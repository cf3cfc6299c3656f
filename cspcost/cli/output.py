"""What the commands write: data on stdout (or a file, atomically) in the chosen format, progress bars
on a terminal's stderr."""
from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional, TypeVar

import typer

from cspcost.cli.app import err
from cspcost.cli.streams import write_own
from cspcost.render.formats import RENDERERS, Renderer

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")


# The choices are the renderers (render/formats/): a new format is a new file there.
Format = Enum("Format", {name: name for name in RENDERERS}, type=str)  # type: ignore[misc]
Format.__doc__ = "Output formats."


# ``--format``/``-f``, declared once: ``fmt: FormatOption = Format.table``.
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table, json, csv or md.")]


def _emit(text: str, output: Optional[str]) -> None:
    """Write to ``output`` atomically, or to stdout."""
    if output:
        from cspcost.files import write_atomic

        write_atomic(output, text)
        err.print(f"wrote {output}")
    else:
        write_own(text)


def _emit_frame(frame: pd.DataFrame, fmt: Format, title: str, max_rows: int = 60, table: Any = None) -> None:
    """A DataFrame in the chosen format on stdout; the terminal table is ``table`` if given,
    else a generic one cut at ``max_rows`` rows."""
    _emit(renderer(fmt).frame(frame, title, table, max_rows), None)


def _emit_section(fmt: Format, title: str) -> None:
    """A heading before a further table, where the format has one (Markdown)."""
    _emit(renderer(fmt).section(title), None)


def renderer(fmt: Format) -> Renderer:
    """The renderer of a ``--format`` value."""
    return RENDERERS[fmt.value]


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


def _with_progress(work: Callable[[Callable[[int, int], None]], T], label: str) -> T:
    """Run ``work(progress)`` under a rich progress bar on stderr."""
    from rich.progress import Progress

    # Only on a terminal: piped or in CI, stderr keeps just the one-line messages.
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(label, total=None)
        return work(lambda done, total: bar.update(task, completed=done, total=total))
