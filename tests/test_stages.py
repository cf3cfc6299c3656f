"""Stages by output stride and order: labels, merged order, the per-stage table, compare and charts."""
from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

import cspcost
from cspcost.cli import app
from cspcost.comparison.stages import merged_order, stage_labels, stage_table
from cspcost.render import charts

runner = CliRunner()


def _frame(shapes: list[tuple[int, ...]], flops: list[int] | None = None) -> pd.DataFrame:
    """A fake layer frame with these output shapes."""
    n = len(shapes)
    return pd.DataFrame({"name": [f"l{i}" for i in range(n)], "out_shape": shapes, "ops": [1] * n,
                         "flops": flops or [1] * n, "params": [0] * n, "cio_elems": [2] * n})


def test_labels_follow_stride_and_its_return() -> None:
    """/2, /4, a 1x1 gate stays in its stage, /8, back up to /4 (#2), a classifier is the head."""
    frame = _frame([(1, 8, 32, 32), (1, 8, 16, 16), (1, 8, 1, 1), (1, 8, 8, 8), (1, 8, 16, 16), (1, 10)])
    assert stage_labels(frame, (1, 3, 64, 64)) == ["/2", "/4", "/4", "/8", "/4 #2", "head"]


def test_a_box_tensor_is_no_map() -> None:
    """(N, C, 4, 8400) is not a feature map: its two ratios differ."""
    frame = _frame([(1, 8, 80, 80), (1, 16, 4, 8400)])
    assert stage_labels(frame, (1, 3, 640, 640)) == ["/8", "head"]


def test_merged_order_keeps_each_models_sequence() -> None:
    """Stages one model lacks go after their predecessor in the model that has them."""
    assert merged_order([["/2", "/4", "/8", "head"], ["/2", "/4", "/4 #2", "/8"]]) == ["/2", "/4", "/4 #2", "/8", "head"]


def test_stage_table_sums_and_deltas() -> None:
    """Per stage: each model's sums, and the change of the second against the first."""
    a = _frame([(1, 8, 32, 32), (1, 8, 16, 16)], [10, 20]).assign(stage=["/2", "/4"])
    b = _frame([(1, 8, 32, 32), (1, 8, 16, 16), (1, 8, 16, 16)], [10, 5, 10]).assign(stage=["/2", "/4", "/4"])
    table = stage_table({"a": a, "b": b})
    assert list(table["b flops"]) == [10, 15] and list(table["b layers"]) == [1, 2]
    assert list(table["b flops_delta_pct"]) == [0.0, -25.0]


def test_compare_aligns_differently_named_models_by_stage() -> None:
    """ResNeXt-50 vs CSPResNeXt-50: the same stages in the same order, and the stage sums are the totals."""
    comparison = cspcost.compare(["resnext50", "cspresnext50"], convention="darknet")
    stages = comparison.stages
    assert list(stages["stage"]) == ["/2", "/4", "/8", "/16", "/32", "head"]
    for result, label in zip(comparison.results, comparison.labels):
        assert stages[f"{label} flops"].sum() == result.totals["flops"]
        assert stages[f"{label} cio_elems"].sum() == result.totals["cio_elems"]


def test_cli_compare_csp_json_and_table() -> None:
    """compare --csp: stages and both models' blocks in JSON; the table shows both per-stage and block tables."""
    out = runner.invoke(app, ["compare", "resnet10", "cspresnet10", "--csp", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert [len(v) for v in data["csp_blocks"].values()] == [0, 2] and data["stages"][0]["stage"] == "/2"
    text = runner.invoke(app, ["compare", "resnet10", "cspresnet10", "--csp"]).stdout
    assert "per stage" in text and "CSP blocks by stage" in text and "stages.2" in text


def test_charts_aligned_by_stage_mark_boundaries_and_roles() -> None:
    """With stages, Fig. 7 draws a boundary per stage change, names the stages on top and colours roles."""
    a = _frame([(1, 8, 32, 32), (1, 8, 16, 16), (1, 8, 16, 16)], [1, 2, 3]).assign(stage=["/2", "/4", "/4"], role="")
    b = _frame([(1, 8, 32, 32), (1, 8, 16, 16)], [1, 4]).assign(stage=["/2", "/4"], role=["", "part2"])
    fig = charts.fig7_layer_flops({"a": a, "b": b}, stages=["/2", "/4"])
    ax = fig.axes[0]
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(dotted) == 1 and dotted[0].get_xdata()[0] == 1.5  # /2 spans [0.5, 1.5), /4 two layers wide
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert list(solid[1].get_xdata()) == [1.0, 2.5]  # b's one /4 layer sits in the middle of the /4 span
    assert len(ax.collections) == 1  # b's part-2 marker
    (top,) = ax.child_axes  # the stage names along the top
    assert [t.get_text() for t in top.get_xticklabels()] == ["/2", "/4"]
    charts.plt.close(fig)


def test_block_chart_pairs_by_stage_and_keeps_zero_cost_blocks() -> None:
    """Blocks pair stage by stage in each model's order; a zero-FLOP block keeps its slot."""
    a = pd.DataFrame({"name": ["s", "x", "y"], "flops": [1, 0, 2], "params": [1, 0, 1], "cio_elems": [1, 0, 1],
                      "stage": ["/2", "/4", "/4"]})
    b = pd.DataFrame({"name": ["s", "q"], "flops": [1, 3], "params": [1, 1], "cio_elems": [1, 1], "stage": ["/2", "/4"]})
    fig = charts.stage_breakdown({"a": a, "b": b}, stages=["/2", "/4"])
    assert [t.get_text() for t in fig.axes[2].get_xticklabels()] == ["s", "x | q", "y | -"]
    assert sum(len(bars) for bars in fig.axes[0].containers) == 5  # 3 bars of a, 2 of b
    charts.plt.close(fig)
