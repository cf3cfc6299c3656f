"""The report's plotly figures, as JSON-ready dicts: per-layer bars (FLOPs, CIO in and out, time),
each model's module tree (an icicle) and its CSP blocks by role. Plotly draws them; the page's
script only attaches hover texts and links the selection."""
from __future__ import annotations

from typing import Any

from cspcost.render.charts import COLORS, ROLE_COLORS, ROLE_NAMES
from cspcost.render.html.model import ModelView, Page

FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}
_ROWS = (("flops", "FLOPs"), ("cio_in_elems", "CIO in (elements)"), ("cio_out_elems", "CIO out (elements)"))


def _go() -> Any:
    """plotly.graph_objects, or a one-line error naming the extra to install."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        from cspcost.errors import UsageError

        raise UsageError("--html needs plotly: pip install 'cspcost[html]'") from None
    return go


def color(i: int) -> str:
    """The colour of the i-th model (as the static charts use)."""
    return COLORS[i % len(COLORS)]


def _rows(page: Page) -> list[tuple[str, str]]:
    """The bar rows: FLOPs, CIO in, CIO out, and measured time when any model has it."""
    timed = any("latency_ms" in m.columns for m in page.models)
    return list(_ROWS) + ([("latency_ms", "measured time (ms)")] if timed else [])


def layer_bars(page: Page) -> dict[str, Any]:
    """Per-layer bars, one row per metric on one shared, stage-aligned x axis (Fig. 7 and Fig. 8)."""
    from plotly.subplots import make_subplots

    rows = _rows(page)
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.03)
    for k, (key, _) in enumerate(rows, start=1):
        for i, model in enumerate(page.models):
            fig.add_trace(_bar_trace(model, i, key, first=k == 1), row=k, col=1)
            if key == "latency_ms" and "predicted_ms" in model.columns:
                fig.add_trace(_predicted_trace(model, i), row=k, col=1)
    for role in _roles(page):
        fig.add_trace(_go().Bar(x=[None], y=[None], name=f"CSP {ROLE_NAMES[role]}", marker={"color": ROLE_COLORS[role]},
                                hoverinfo="skip"), row=1, col=1)
    fig.update_layout(barmode="overlay", bargap=0, height=230 * len(rows) + 90, font=FONT, hovermode="closest",
                      margin={"l": 70, "r": 20, "t": 60, "b": 40}, template="plotly_white",
                      shapes=_bands(page), annotations=_band_labels(page),
                      legend={"orientation": "h", "y": -0.035, "yanchor": "top"}, dragmode="zoom",
                      hoverlabel={"align": "left", "font": {"size": 12}})
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=True, row=len(rows), col=1)
    fig.update_yaxes(rangemode="tozero", exponentformat="SI")
    for k, (_, name) in enumerate(rows, start=1):
        fig.update_yaxes(title_text=name, row=k, col=1)
    return fig.to_plotly_json()


def _bar_trace(model: ModelView, i: int, key: str, first: bool) -> Any:
    """One model's bars of one metric; CSP-role layers take their role's colour."""
    values = model.columns.get(key) or [0] * len(model.hover)
    roles = model.columns.get("role") or [""] * len(model.hover)
    colors = [ROLE_COLORS.get(roles[r], color(i)) for r in model.bars]
    return _go().Bar(x=model.x, y=[values[r] if values[r] is not None else 0 for r in model.bars],
                     width=model.width, customdata=model.bars, name=model.label, legendgroup=model.label,
                     showlegend=first, marker={"color": colors, "line": {"width": 0, "color": "#000"}},
                     meta={"model": i, "metric": key}, hovertemplate="%{hovertext}<extra></extra>")


def _predicted_trace(model: ModelView, i: int) -> Any:
    """The roofline's predicted time per layer, as markers over the measured bars."""
    predicted = model.columns["predicted_ms"]
    return _go().Scatter(x=model.x, y=[predicted[r] for r in model.bars], mode="markers", customdata=model.bars,
                         marker={"symbol": "line-ew-open", "size": 9, "color": "#222", "line": {"width": 2}},
                         name=f"{model.label}: predicted (roofline)", meta={"model": i, "metric": "predicted_ms"},
                         hovertemplate="%{hovertext}<extra></extra>")


def _roles(page: Page) -> list[str]:
    """The CSP roles that appear among the bars, in the static charts' order."""
    seen = {m.columns["role"][r] for m in page.models for r in m.bars if "role" in m.columns}
    return [role for role in ROLE_COLORS if role in seen]


def _bands(page: Page) -> list[dict[str, Any]]:
    """Every other stage shaded, a dotted line at each stage boundary, across all rows."""
    shapes = []
    for k, (a, b, _) in enumerate(page.spans):
        if k % 2:
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": a, "x1": b, "y0": 0, "y1": 1,
                           "fillcolor": "rgba(0,0,0,0.045)", "line": {"width": 0}, "layer": "below"})
        if k:
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": a, "x1": a, "y0": 0, "y1": 1,
                           "line": {"color": "#777", "width": 0.8, "dash": "dot"}, "layer": "below"})
    return shapes


def _band_labels(page: Page) -> list[dict[str, Any]]:
    """Stage names along the top (a stage under 2.5% of the axis keeps its line but not its name)."""
    if not page.spans:
        return []
    total = page.spans[-1][1] - page.spans[0][0]
    return [{"x": (a + b) / 2, "y": 1.0, "xref": "x", "yref": "paper", "yanchor": "bottom", "yshift": 14,
             "text": label, "showarrow": False, "font": {"size": 10, "color": "#555"}}
            for a, b, label in page.spans if (b - a) / total >= 0.025]


# The tree's branches: one pale colour per block at the first depth with at least four modules
# (YOLO's `model.0` ... `model.23`, DenseNet's `features.denseblock1` ..., ResNet's `stages.0` ...).
BRANCH_COLORS = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d",
                 "#9edae5", "#c7c7c7", "#bcbddc", "#fdd0a2"]


def branch_colors(ids: list[str], parents: list[str]) -> list[str]:
    """Each tree node's colour: that of its ancestor at the first depth holding four or more nodes
    (grey above that depth)."""
    parent_of = dict(zip(ids, parents))
    depth: dict[str, int] = {}
    for node, parent in zip(ids, parents):  # parents come before their children
        depth[node] = depth[parent] + 1 if parent in depth else 0
    counts: dict[int, int] = {}
    for d in depth.values():
        counts[d] = counts.get(d, 0) + 1
    level = min((d for d, n in counts.items() if n >= 4), default=max(counts))
    heads = [node for node in ids if depth[node] == level]
    colour = {node: BRANCH_COLORS[k % len(BRANCH_COLORS)] for k, node in enumerate(heads)}
    out = []
    for node in ids:
        top = node
        while depth[top] > level:
            top = parent_of[top]
        out.append(colour.get(top, "#eeeeee"))
    return out


def module_tree(model: ModelView, i: int) -> dict[str, Any]:
    """The module tree as an icicle sized by FLOPs (the page's metric menu resizes it). No path bar:
    the open block's own bar on top leads back up (plotly.js 3's path bar draws NaN paths after a resize)."""
    tree = model.tree
    flops = model.columns["flops"]
    values = [flops[r] if r >= 0 else 0 for r in tree["row"]]
    fig = _go().Figure(_go().Icicle(ids=tree["ids"], labels=tree["labels"], parents=tree["parents"], values=values,
                                    branchvalues="remainder", customdata=tree["row"], meta={"model": i},
                                    hovertemplate="<b>%{id}</b><br>%{value:,.0f} (%{percentRoot:.2%} of the model)"
                                                  "<extra></extra>",
                                    tiling={"orientation": "v"}, maxdepth=4, root={"color": "#eef"},
                                    textinfo="label+percent root", pathbar={"visible": False},
                                    marker={"colors": branch_colors(tree["ids"], tree["parents"]), "line": {"width": 0.5}}))
    fig.update_layout(height=620, margin={"l": 10, "r": 10, "t": 10, "b": 10}, font=FONT)
    return fig.to_plotly_json()


def csp_blocks(model: ModelView) -> dict[str, Any]:
    """Each CSP block's FLOPs by role (stacked horizontal bars), its share of the model on hover."""
    go = _go()
    blocks = model.csp
    names = [f"{k + 1}. {b['name']}" for k, b in enumerate(blocks)]
    fig = go.Figure()
    for role, rgb in ROLE_COLORS.items():
        values = [b["roles"].get(role, {}).get("flops", 0) for b in blocks]
        fig.add_trace(go.Bar(y=names, x=values, orientation="h", name=ROLE_NAMES[role], marker={"color": rgb},
                             customdata=[b["name"] for b in blocks],
                             hovertemplate=f"%{{customdata}}<br>{ROLE_NAMES[role]}: %{{x:,}} FLOPs<extra></extra>"))
    fig.update_layout(barmode="stack", height=max(260, 22 * len(blocks) + 120), font=FONT, template="plotly_white",
                      margin={"l": 10, "r": 20, "t": 30, "b": 40}, legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
                      xaxis={"title": {"text": "FLOPs by CSP role"}, "exponentformat": "SI"},
                      yaxis={"autorange": "reversed", "automargin": True})
    return fig.to_plotly_json()
