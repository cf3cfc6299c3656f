"""The report as one HTML document: header, the four linked views, the data as JSON, plotly.js and
the page's small script. The same page gives the same bytes: no dates, no random ids (every
element id is fixed; figures are drawn by ``Plotly.newPlot`` on those ids, not by plotly's
``to_html``, which makes a random one per figure)."""
from __future__ import annotations

import json
from html import escape
from importlib import resources
from typing import Any

from cspcost import __version__
from cspcost.render.html import figures
from cspcost.render.html.model import Page


def plotly_js() -> str:
    """The plotly.js bundle the installed plotly ships (embedded, or written once beside a report)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def plotly_version() -> str:
    """The plotly.js version inside that bundle, as the header reports it."""
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()


def _asset(name: str) -> str:
    """The page's own script or style sheet, shipped beside this module."""
    return resources.files("cspcost.render.html").joinpath(name).read_text(encoding="utf-8")


def payload(page: Page) -> dict[str, Any]:
    """Everything the page's script reads: the models' columns, hover texts and trees, the figures."""
    # the trees' ids and parents travel once, inside their figures
    models = [{"label": m.label, "columns": m.columns, "hover": m.hover, "csp": m.csp} for m in page.models]
    return {"kind": page.kind, "metrics": page.metrics, "root": "(model)", "models": models,
            "figures": {"layers": figures.layer_bars(page),
                        "tree": [figures.module_tree(m, i) for i, m in enumerate(page.models)],
                        "csp": [figures.csp_blocks(m) if m.csp else None for m in page.models]}}


def _json(data: Any) -> str:
    """Compact JSON that is safe inside a <script> element."""
    from plotly.utils import PlotlyJSONEncoder

    text = json.dumps(data, cls=PlotlyJSONEncoder, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _facts(page: Page) -> str:
    """The header's facts as a definition list."""
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in page.facts)
    return f'<dl class="facts">{items}</dl>'


def document(page: Page, plotly_src: str | None = None) -> str:
    """The whole HTML document.

    Args:
        page: what to show.
        plotly_src: a relative URL of plotly.min.js written beside the report (``cspcost report``
            writes it once for all its pages); None embeds plotly.js, so the one file works offline.
    """
    script = (f'<script src="{escape(plotly_src)}"></script>' if plotly_src
              else f"<script>{plotly_js()}</script>")
    body = _asset("body.html").format(title=escape(page.title), facts=_facts(page), version=escape(__version__),
                                      plotly=escape(plotly_version()))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<meta name=\"generator\" content=\"cspcost {escape(__version__)}\">\n"
            f"<title>{escape(page.title)} (cspcost)</title>\n<style>\n{_asset('report.css')}</style>\n"
            f"{script}\n</head>\n<body>\n{body}"
            f"<script type=\"application/json\" id=\"cspcost-data\">{_json(payload(page))}</script>\n"
            f"<script>\n{_asset('report.js')}</script>\n</body>\n</html>\n")
