"""Charts: the expected series, bars and labels (Agg backend, no pixel comparison), files written."""
from __future__ import annotations

import pandas as pd
import pytest

from cspcost.render import charts as plots


def _layers(flops: list[int]) -> pd.DataFrame:
    """A fake per-layer frame."""
    n = len(flops)
    return pd.DataFrame({
        "name": [f"stages.{i}" for i in range(n)], "flops": flops, "params": [10] * n,
        "cio_elems": [30] * n, "cio_in_elems": [10] * n, "cio_out_elems": [20] * n,
        "latency_ms": [0.5] * n,
    })


SERIES = {"base @256x256": _layers([4, 10, 2]), "csp @256x256": _layers([3, 0, 5, 1])}


def test_fig7_series_maxima_and_reduction() -> None:
    """One line per model (zero-FLOP layers dropped), a dashed max line each, the reduction annotated."""
    fig = plots.fig7_layer_flops(SERIES)
    ax = fig.axes[0]
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert [len(line.get_xdata()) for line in solid] == [3, 3]
    assert [line.get_ydata()[0] for line in dashed] == [10 / 1e9, 5 / 1e9]
    assert "-50% bottleneck vs base" in [t.get_text() for t in ax.texts]  # 5 vs 10
    assert "FLOPs" in ax.get_ylabel() and "layer" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("base @256x256")


def test_fig8_two_panels_with_cio_in_legend() -> None:
    """Input and output panels, one series per model, total CIO in the legend."""
    fig = plots.fig8_layer_io(SERIES, {"base @256x256": 34_400_000, "csp @256x256": 32_600_000})
    top, bottom = fig.axes
    assert len(top.get_lines()) == len(bottom.get_lines()) == 2
    assert "input" in top.get_ylabel() and "output" in bottom.get_ylabel()
    assert "CIO 34.4M" in top.get_legend().get_texts()[0].get_text()


def test_stage_breakdown_bars() -> None:
    """Three panels; a bar per (block, model): 4 blocks in the union x 2 models = 8 (a block a
    model lacks is a zero-height bar, so groups line up)."""
    fig = plots.stage_breakdown(SERIES)
    assert len(fig.axes) == 3
    assert len(fig.axes[0].patches) == 4 * 2
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == [f"stages.{i}" for i in range(4)]


def test_time_vs_flops_scatter() -> None:
    """One scatter per model, layers with zero FLOPs or time left out."""
    fig = plots.time_vs_flops(SERIES)
    offsets = [c.get_offsets() for c in fig.axes[0].collections]
    assert [len(o) for o in offsets] == [3, 3]


def test_save_writes_png_and_svg(tmp_path) -> None:  # noqa: ANN001
    """Both formats, nothing temporary left behind."""
    files = plots.save(plots.fig7_layer_flops(SERIES), tmp_path / "fig")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.svg"]
    assert files[0].read_bytes()[:4] == b"\x89PNG"


def test_colours_are_stable() -> None:
    """The i-th model has the same colour in every chart."""
    assert plots.color(0) != plots.color(1) and plots.color(0) == plots.color(len(plots.COLORS))


@pytest.mark.parametrize("chart", ["fig7", "fig8"])
def test_single_model(chart: str) -> None:
    """A chart of one model works (no reduction annotated)."""
    one = {"base": _layers([1, 2])}
    fig = plots.fig7_layer_flops(one) if chart == "fig7" else plots.fig8_layer_io(one, {"base": 60})
    assert fig.axes


def test_fig7_three_models_annotates_against_the_previous_too() -> None:
    """With three detectors each is compared with the first and with the one before (-80%, -44%)."""
    three = {"yolo @416x416": _layers([10]), "prn @416x416": _layers([5]), "efm @416x416": _layers([2])}
    texts = [t.get_text() for t in plots.fig7_layer_flops(three).axes[0].texts]
    assert texts == ["-50% bottleneck vs yolo", "-80% bottleneck vs yolo, -60% vs prn"]
