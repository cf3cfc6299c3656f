"""What people read of a profile: rounded numbers, names shortened in the middle, whole types
and bounds, one-decimal percentages, the compact block, and the latency ratio in compare."""
from __future__ import annotations

import re

import pandas as pd
from typer.testing import CliRunner

from cspcost.cli import app
from cspcost.profiling.result import ProfileResult
from cspcost.profiling.timing import sample_stats
from cspcost.render import tables, views

RAW_FLOAT = re.compile(r"\d+\.\d{6,}")  # a float printed with six or more decimals


def test_rounded_for_people() -> None:
    assert [tables.rounded(v) for v in (121.234, 38.46, 8.254, 0.4123, 0.03124, 0.0003124, 0.00001, 0.0,
                                        float("nan"))] == \
        ["121.2", "38.5", "8.25", "0.412", "0.0312", "0.0003", "<0.0001", "0", "-"]
    assert tables.percent(0.12345) == "12.3" and tables.percent(1.0) == "100.0"


def test_middle_truncate_keeps_the_first_and_last_parts() -> None:
    assert tables.middle_truncate("stages.2.blocks.3.conv2.bn", 20) == "stages.…3.conv2.bn"  # 18 chars
    assert tables.middle_truncate("short.name", 20) == "short.name"
    assert tables.middle_truncate("a_very_long_single_name", 11) == "a_ver…_name"  # 5 + 1 + 5
    assert all(len(tables.middle_truncate("x." * 30 + "end", w)) <= w for w in (8, 12, 20))


def test_short_names_stay_unambiguous() -> None:
    names = ["stages.1.blocks.0.conv.bn", "stages.2.blocks.0.conv.bn"]
    short = views.short_names(names, 16)
    assert short == ["s.1.b.0.conv.bn", "s.2.b.0.conv.bn"]  # middle-truncated both would read 'stages.…0.conv.bn'
    assert views.short_names(["a.b", "c.d"], 16) == ["a.b", "c.d"]


def _layers() -> pd.DataFrame:
    """Two per-layer rows as ``ProfileResult.layers`` gives them (exact floats)."""
    return pd.DataFrame({
        "name": ["stages.2.blocks.3.partial.conv_block.conv", "(root)"], "type": ["ConvTranspose2d", "Net"],
        "measured_ms": [1.23456789, 0.0123456], "predicted_ms": [0.9876543, 0.001],
        "time_share": [0.9901234, 0.0098766], "flops_share": [0.99993248294579581, 0.0000675],
        "achieved_gflops": [51.234567, 0.0], "achieved_gbs": [1.9876543, 0.5], "bound": ["compute", "memory"]})


def test_per_layer_view_rounds_and_keeps_types_and_bounds_whole() -> None:
    view = views.profile_layers(_layers(), width=100)
    assert list(view.columns) == views.LAYER_HEADERS
    row = view.iloc[0]
    assert row["type"] == "ConvTranspose2d" and row["bound"] == "compute"  # not cut
    assert (row["ms"], row["time %"], row["FLOPs %"], row["GFLOP/s"]) == ("1.23", "99.0", "100.0", "51.2")
    text = tables.render_text(tables.text_table(view, "per layer", left=("layer", "type", "bound")))
    assert max(len(line) for line in text.splitlines()) <= 100 and not RAW_FLOAT.search(text)
    narrow = views.profile_layers(_layers(), width=60)["layer"].iloc[0]
    assert narrow.startswith("stages.") and narrow.endswith("conv") and "…" in narrow


def _result() -> ProfileResult:
    """A profile with known samples and an environment stamp."""
    samples = [0.118, 0.1212, 0.128, 0.120, 0.125]
    env = {"device": "cpu", "dtype": "float32", "threads": 1, "cpu_model": "Some CPU @ 3.60GHz",
           "device_name": "Some CPU @ 3.60GHz", "cpu_count": 2, "torch": "2.14.1",
           "load_avg_1min": 0.51234, "cpu_share": 0.9993248294579581, "cpu_steal_share": 0.0}
    return ProfileResult("resnet10", [(1, 3, 256, 256)], 1, sample_stats(samples), [s * 1e3 for s in samples],
                         environment=env)


def test_profile_block_is_compact_and_rounded() -> None:
    lines = views.profile_block(_result()).splitlines()
    # sorted ms [118, 120, 121.2, 125, 128]: median 121.2, q1 120, q3 125; 1000/121.2 = 8.25 img/s
    assert lines[1] == "median 121.2 ms (IQR 120.0-125.0, 5 runs), 8.25 img/s"
    assert lines[-1] == ("environment: Some CPU @ 3.60GHz (2 CPUs), torch 2.14.1; load 0.5, "
                         "CPU share 100%, steal 0%")
    assert len(lines) == 4 and not RAW_FLOAT.search("\n".join(lines))


def test_exact_values_in_the_csv_view() -> None:
    frame = views.latency(_result()).set_index("field")["value"]
    assert frame["cpu_share"] == "0.9993248294579581" and frame["median_ms"] == repr(121.2)


def test_profile_cli_table_has_no_raw_floats() -> None:
    result = CliRunner().invoke(app, ["profile", "tinycsp", "--repeat", "3", "--warmup", "1", "--per-layer"])
    assert result.exit_code == 0, result.stderr
    assert not RAW_FLOAT.search(result.stdout) and "median " in result.stdout
    assert "BatchNorm2d" in result.stdout and not re.search(r"compu\S*…", result.stdout)


def test_ratio_cell_and_caption() -> None:
    assert tables.ratio_text(0.8647, [0.8504, 0.8686], True) == "0.865 [0.850-0.869]*"
    assert tables.ratio_text(1.0, [1.0, 1.0], False, 0) == "1 (ref)"
    frame = pd.DataFrame({"model": ["a", "b"], "latency_ms": [40.0, 34.6], "latency_ms_delta_pct": [0.0, -13.5],
                          "latency_ratio": [1.0, 0.865], "latency_ratio_ci95": [[1.0, 1.0], [0.85, 0.869]],
                          "latency_significant": [False, True]})
    text = tables.render_text(tables.comparison_table(frame, "pytorch"))
    assert "0.865 [0.850-0.869]*" in text and "34.6 (-13.5%)" in text and "significant" in text
