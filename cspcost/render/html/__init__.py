"""The interactive HTML report: one self-contained file per analysis, comparison or profile.

``model`` turns results into plain data, ``figures`` makes the plotly figures, ``page`` writes the
document (plotly.js embedded, or a relative link to one copy beside a folder of reports).
``write_html(path, result)`` is the entry point; ``check_target(path)`` says early whether a path
can take it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from cspcost.errors import UsageError
from cspcost.render.files import write_atomic

__all__ = ["available", "check_target", "html_text", "write_html", "write_plotly_js"]


def available() -> bool:
    """Whether plotly (the optional ``[html]`` extra) is installed."""
    import importlib.util

    return importlib.util.find_spec("plotly") is not None


def check_target(path: str | Path) -> Path:
    """The path, if an HTML file can be written there; else a one-line UsageError (exit 2).

    Unlike charts (whose folder is made), the folder must exist: a typo in it fails fast instead
    of quietly making a new tree.
    """
    from cspcost.render.folders import check_output_path

    check_output_path(path, "--html")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"--html {path}: is a directory; name a file such as {Path(path) / 'report.html'}")
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise UsageError(f"--html {path}: the folder {folder} {what}; create it first or name another file")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"--html {path}: not writable here; choose a folder you can write to")
    return target


def html_text(result: Any, plotly_src: str | None = None) -> str:
    """The report of an AnalysisResult, a Comparison or a ProfileResult as one HTML document.

    Args:
        result: what to show (a profile needs per-layer times).
        plotly_src: a relative URL of plotly.min.js beside the report; None embeds plotly.js.
    """
    from cspcost.render.html import model, page

    kind = type(result).__name__
    builders: dict[str, Callable[[Any], model.Page]] = {
        "AnalysisResult": model.analysis_page, "Comparison": model.comparison_page, "ProfileResult": model.profile_page}
    if kind not in builders:
        raise UsageError(f"no HTML report for a {kind}; give an analysis, a comparison or a profile")
    return page.document(builders[kind](result), plotly_src)


def write_html(path: str | Path, result: Any, plotly_src: str | None = None) -> Path:
    """Write the report to ``path`` whole or not at all (checked first: see ``check_target``)."""
    target = check_target(path)
    write_atomic(target, html_text(result, plotly_src))
    return target


def write_plotly_js(folder: str | Path) -> Path:
    """plotly.min.js written once into ``folder``, for reports that link to it instead of embedding it."""
    from cspcost.render.html.page import plotly_js

    target = Path(folder) / "plotly.min.js"
    write_atomic(target, plotly_js())
    return target
