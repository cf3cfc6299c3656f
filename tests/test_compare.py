"""compare: the table equals the walker's numbers; deltas, bottleneck, the CLI."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import cspcost
from cspcost.cli import app
from cspcost.comparison.deltas import bottleneck_reduction
from cspcost.comparison.engine import compare

runner = CliRunner()
PAIR = ["mobilenetv2", "cspmobilenetv2"]


@pytest.fixture(scope="module")
def pair():  # noqa: ANN201
    """mobilenetv2 vs cspmobilenetv2 under darknet counting."""
    return compare(PAIR, convention="darknet")


def test_table_equals_walker(pair) -> None:  # noqa: ANN001
    """Every number in the comparison is the walker's own for that model."""
    for name, (_, row) in zip(PAIR, pair.table.iterrows()):
        result = cspcost.analyze(name, convention="darknet")
        for key in ("params", "conv_weight_params", "macs", "flops", "cio_elems", "peak_activation_bytes"):
            assert row[key] == result.totals[key], (name, key)
        assert row["bytes"] == result.totals["bytes_read"] + result.totals["bytes_written"]
        assert (row["bottleneck_layer"], row["bottleneck_flops"]) == result.bottleneck


def test_deltas_against_the_first(pair) -> None:  # noqa: ANN001
    """delta = 100 * (x / first - 1); the first row's deltas are 0."""
    table = pair.table
    assert table["flops_delta_pct"].iloc[0] == 0
    expected = 100 * (table["flops"].iloc[1] / table["flops"].iloc[0] - 1)
    assert table["flops_delta_pct"].iloc[1] == pytest.approx(expected)
    assert table["flops_delta_pct"].iloc[1] < 0  # the CSP model is lighter


def test_bottleneck_reduction_is_the_papers_definition(pair) -> None:  # noqa: ANN001
    """1 - max_layer(new) / max_layer(old)."""
    table = pair.table
    assert bottleneck_reduction(table, 1) == pytest.approx(1 - table["bottleneck_flops"][1] / table["bottleneck_flops"][0])


def test_cli_compare_json_and_table() -> None:
    """The CLI prints the same numbers; the table fits 100 columns."""
    result = runner.invoke(app, ["compare", *PAIR, "--convention", "darknet", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [m["model"] for m in data["models"]] == PAIR
    table = runner.invoke(app, ["compare", *PAIR])
    assert table.exit_code == 0 and max(map(len, table.stdout.splitlines())) <= 100
    assert "%" in table.stdout


def test_cli_compare_plot_writes_charts_and_summary(tmp_path) -> None:  # noqa: ANN001
    """--plot writes Fig. 7, Fig. 8 and the breakdown as PNG and SVG, and summary.md linking them."""
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", *PAIR, "--convention", "darknet", "--plot", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    for stem in ("fig7_layer_flops", "fig8_layer_io", "blocks"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.svg").stat().st_size > 0
    summary = (out / "summary.md").read_text()
    assert "![fig7_layer_flops](fig7_layer_flops.png)" in summary and "darknet" in summary
    assert "cspmobilenetv2" in summary and "bottleneck" in summary.lower()


def test_cli_compare_needs_two_models() -> None:
    """One model is a usage error."""
    result = runner.invoke(app, ["compare", "mobilenetv2"])
    assert result.exit_code == 2 and "at least two" in result.stderr


@pytest.mark.slow
def test_cli_compare_profile_plot(tmp_path) -> None:  # noqa: ANN001
    """--profile adds measured CPU latency and, with --plot, the time-vs-FLOPs chart."""
    nets = f"{__import__('pathlib').Path(__file__).parent / 'nets.py'}:mixnet"
    out = tmp_path / "timed"
    result = runner.invoke(app, ["compare", "tinycsp", nets, "--input", "3x32x32", "--profile", "--plot",
                                 "--rounds", "6", "--processes", "1", "--out", str(out), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    rows = data["models"]
    assert all(row["latency_ms"] > 0 for row in rows)
    assert rows[0]["latency_ratio"] == 1.0 and rows[0]["latency_ratio_ci95"] == [1.0, 1.0]
    low, high = rows[1]["latency_ratio_ci95"]
    assert low <= rows[1]["latency_ratio"] <= high
    assert data["latency"]["rounds"] == 6 and "order statistics" in data["latency"]["method"]
    assert (out / "time_vs_flops.png").exists() and (out / "time_vs_flops.svg").exists()


@pytest.mark.slow
def test_zoo_report_writes_pairs_table3_and_index(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """`cspcost report`: each pair's charts and summary, and an index with Table 3 beside the paper."""
    import cspcost.report as comparison

    monkeypatch.setattr(comparison, "zoo_pairs", lambda: [tuple(PAIR)])
    monkeypatch.setattr(comparison, "libraries_missing", lambda: ["timm"])  # the modern part: test_report_modern
    result = runner.invoke(app, ["report", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "mobilenetv2_vs_cspmobilenetv2" / "fig8_layer_io.svg").exists()
    index = (tmp_path / "README.md").read_text()
    assert "[mobilenetv2 vs cspmobilenetv2](mobilenetv2_vs_cspmobilenetv2/summary.md)" in index
    # Table 3 row: the walker's 0.858 beside the paper's 0.858 (cfg model, every printed digit)
    assert "| mobilenetv2 | 224 | 3.47 | 3.47 | 0.858 | 0.858 |" in index


def test_table5_from_a_fake_paired_measurement(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Table 5 rows: darknet FLOPs/CIO ratios from the walker, the latency ratio and the verdicts."""
    import cspcost.report as report
    from cspcost.profiling.paired import build_result

    def measure(models, rounds, warmup, processes, runtime="eager"):  # noqa: ANN001, ANN202
        # the CSP model takes 8 ms to the baseline's 10 ms in every round: ratio 0.8, interval [0.8, 0.8]
        seconds = [[0.010] * rounds, [0.008] * rounds]
        return build_result(models, [(1, 3, 256, 256)] * 2, [seconds], [[0, 1]] * rounds, warmup,
                            {"cpu_model": "Fake CPU", "threads": 1, "cpu_share": 0.99})

    frame, env = report.table5([("resnet10", "cspresnet10")], rounds=6, measure=measure)
    row = frame.iloc[0]
    base, csp = cspcost.analyze("resnet10", convention="darknet"), cspcost.analyze("cspresnet10", convention="darknet")
    assert row["flops_ratio"] == pytest.approx(csp.totals["flops"] / base.totals["flops"])  # 1.878 / 2.273
    assert row["cio_ratio"] == pytest.approx(csp.totals["cio_elems"] / base.totals["cio_elems"])
    assert (row["latency_ratio"], row["latency_ratio_low"], row["latency_ratio_high"]) == pytest.approx((0.8,) * 3)
    assert (row["csp_faster"], row["flops_predicted"]) == ("yes", "yes")  # lighter and faster
    assert (row["baseline_ms"], row["model_ms"]) == pytest.approx((10.0, 8.0))
    text = report.table5_markdown(frame, env, 6)
    assert "| cspresnet10 | resnet10 | 256 | 0.826 |" in text and "0.800 [0.800-0.800] | yes | yes |" in text
    assert "- cpu_model: Fake CPU" in text and "- cpu_share: 0.99" in text
    monkeypatch.setattr(report, "table5", lambda **kw: (frame, env))
    written = report.latency_report(tmp_path, rounds=6)
    assert [p.name for p in written] == ["table5.md", "table5.csv"] and "measured_at" in written[0].read_text()


def test_compare_profile_api_is_the_paired_measurement(monkeypatch) -> None:  # noqa: ANN001
    """cspcost.compare(..., profile=True) measures with paired_latency: its rows land in the table."""
    import cspcost.comparison.engine as engine

    seen = {}

    def fake(models, size, batch, runtime):  # noqa: ANN001, ANN202
        seen["models"], seen["runtime"] = list(models), runtime
        rows = [{"latency_ms": 10.0, "latency_ratio": 1.0, "latency_ratio_ci95": [1.0, 1.0]},
                {"latency_ms": 8.0, "latency_ratio": 0.8, "latency_ratio_ci95": [0.78, 0.83]}]
        return engine.LatencyReport(rows, {"method": "fake"})

    monkeypatch.setattr(engine, "paired_latency", fake)
    result = cspcost.compare(PAIR, profile=True)
    assert seen["models"] == PAIR and result.latency == {"method": "fake"} and seen["runtime"] == "eager"
    cspcost.compare(PAIR, profile=True, runtime="openvino")
    assert seen["runtime"] == "openvino"
    assert result.table["latency_ratio_ci95"].iloc[1] == [0.78, 0.83]
    assert result.table["latency_ms_delta_pct"].iloc[1] == pytest.approx(-20.0)  # 100 * (8/10 - 1)
    assert cspcost.paired.__module__ == "cspcost.profiling.paired"
