"""The command line: exit codes, one-line errors, formats, atomic output, a fast --help."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cspcost import __version__
from cspcost.cli import app

NETS = Path(__file__).parent / "nets.py"
runner = CliRunner()


def invoke(*args: str):  # noqa: ANN201
    """Run the CLI in-process."""
    return runner.invoke(app, list(args))


def assert_one_line_error(result, code: int, *fragments: str) -> None:  # noqa: ANN001
    """Exit ``code``, one line on stderr containing ``fragments``, no traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0]


def test_version() -> None:
    """--version prints the package version."""
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_help_does_not_import_torch() -> None:
    """`cspcost --help` stays fast: the CLI module imports no torch."""
    code = "import sys, cspcost.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert invoke("--help").exit_code == 0


def test_python_dash_m() -> None:
    """`python -m cspcost --version` works."""
    out = subprocess.run([sys.executable, "-m", "cspcost", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout


def test_analyze_table_fits_100_columns() -> None:
    """The default table: totals row, units in headers, no line over 100 columns."""
    result = invoke("analyze", "tinycsp")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert any(line.strip().startswith("total") for line in lines)
    assert "FLOPs" in result.stdout and "CIO" in result.stdout


def test_analyze_json() -> None:
    """--format json prints one object with the documented keys; numbers equal the API's."""
    import cspcost

    result = invoke("analyze", "tinycsp", "--format", "json")
    data = json.loads(result.stdout)
    assert data["model"] == "tinycsp" and data["input_shape"] == [[1, 3, 64, 64]]
    assert data["totals"] == cspcost.analyze("tinycsp").totals
    assert data["unsupported_ops"] == {} and "torch" in data["versions"]


def test_analyze_csv_and_md() -> None:
    """CSV has a header and one row per layer; Markdown is a table."""
    csv = invoke("analyze", "tinycsp", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("name,type,label,ops,macs,flops")
    md = invoke("analyze", "tinycsp", "--format", "md").stdout.splitlines()
    assert md[0].startswith("| name | type") and md[1].startswith("|---")
    assert len(md) == len(csv) + 1  # header + separator vs header


def test_top_and_sort() -> None:
    """--top N keeps the N heaviest layers by FLOPs."""
    data = json.loads(invoke("analyze", "tinycsp", "--top", "2", "--format", "json").stdout)
    flops = [layer["flops"] for layer in data["layers"]]
    assert len(flops) == 2 and flops == sorted(flops, reverse=True)
    assert_one_line_error(invoke("analyze", "tinycsp", "--sort", "speed"), 2, "cannot sort by 'speed'")


def test_input_and_size_options() -> None:
    """--input CxHxW and --size S set the input."""
    data = json.loads(invoke("analyze", "tinycsp", "--input", "3x32x48", "--format", "json").stdout)
    assert data["input_shape"] == [[1, 3, 32, 48]]
    data = json.loads(invoke("analyze", "tinycsp", "--size", "32", "-b", "2", "--format", "json").stdout)
    assert data["input_shape"] == [[2, 3, 32, 32]]


def test_output_file_is_written_atomically(tmp_path: Path) -> None:
    """--output writes the whole file and leaves no temporary behind."""
    target = tmp_path / "out" / "tiny.json"
    result = invoke("analyze", "tinycsp", "--format", "json", "--output", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(target.read_text())["model"] == "tinycsp"
    assert [p.name for p in target.parent.iterdir()] == ["tiny.json"]


def test_file_factory() -> None:
    """path/to/file.py:factory loads a user's model."""
    result = invoke("analyze", f"{NETS}:mixnet", "--size", "32", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["macs"] > 0


@pytest.mark.parametrize("args, code, fragments", [
    (["analyze", "tinycs"], 2, ["unknown model 'tinycs'", "did you mean 'tinycsp'"]),
    (["analyze", "tinycsp", "--input", "3xax4"], 2, ["malformed input size '3xax4'"]),
    (["analyze", "tinycsp", "--input", "3x0x4"], 2, ["must be positive"]),
    (["analyze", "tinycsp", "--batch", "0"], 2, ["batch must be at least 1"]),
    (["analyze", "no/such/file.py:build"], 2, ["no such file"]),
    (["analyze", f"{NETS}:nothing"], 2, ["has no callable 'nothing'"]),
    (["analyze", f"{NETS}:raises", "--size", "16"], 2, ["weights file missing"]),
    (["analyze", f"{NETS}:broken", "--size", "16"], 2, ["'features.1' (Conv2d)"]),
    (["analyze", f"{NETS}:meta_hostile", "--size", "16"], 2, ["meta device", "--device cpu"]),
    (["analyze", f"{NETS}:unpriced_net", "--input", "4", "--strict"], 2, ["aten.special_bessel_j0"]),
    (["analyze", "tinycsp", "--device", "cuda"], 2, ["CUDA"]),
    (["analyze", "tinycsp", "--device", "tpu9"], 2, ["unknown device"]),
    (["analyze", "tinycsp", "--output", "/proc/no/such/dir/out.json"], 2, ["No such file"]),
])
def test_bad_input_is_one_line_exit_2(args: list[str], code: int, fragments: list[str]) -> None:
    """Each bad input: one line on stderr, exit 2, no traceback."""
    if "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
    assert_one_line_error(invoke(*args), code, *fragments)


def test_meta_hostile_runs_on_cpu() -> None:
    """The suggested --device cpu works."""
    result = invoke("analyze", f"{NETS}:meta_hostile", "--size", "16", "--device", "cpu")
    assert result.exit_code == 0, result.stderr


def test_unsupported_ops_warn_on_stderr() -> None:
    """Without --strict an unsupported op is a warning on stderr; data stays on stdout."""
    result = invoke("analyze", f"{NETS}:unpriced_net", "--input", "4", "--format", "json")
    assert result.exit_code == 0
    assert result.stderr.count("no cost rule for aten.special_bessel_j0 x1") == 1
    assert json.loads(result.stdout)["unsupported_ops"] == {"aten.special_bessel_j0": 1}


def test_compare_warns_about_unsupported_ops() -> None:
    """compare reports unsupported ops as analyze does: one warning line per model."""
    result = invoke("compare", f"{NETS}:unpriced_net", f"{NETS}:unpriced_net", "--input", "4")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("warning: no cost rule for aten.special_bessel_j0 x1") == 2


def test_internal_error_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug of ours exits 3 with one line; --debug shows the traceback."""
    import cspcost.walk.analysis

    def boom(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyError("bug")

    monkeypatch.setattr(cspcost.walk.analysis, "analyze", boom)
    assert_one_line_error(invoke("analyze", "tinycsp"), 3, "internal error")
    result = invoke("--debug", "analyze", "tinycsp")
    assert result.exit_code != 0 and isinstance(result.exception, KeyError)


def test_rules_lists_the_registry() -> None:
    """`cspcost rules` lists every op with its kind and convention."""
    data = json.loads(invoke("rules", "--format", "json").stdout)
    ops = {row["op"]: row for row in data}
    assert ops["aten.conv2d"]["kind"] == "conv"
    assert ops["aten.view"]["convention"].startswith("free:")


def test_models_lists_the_zoo() -> None:
    """`cspcost models --format json` lists every registered model."""
    import cspcost_models

    data = json.loads(invoke("models", "--format", "json").stdout)
    assert {row["name"] for row in data} == set(cspcost_models.list_models())


CFG = """[net]
width=16
height=16
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[shortcut]
from=-2
activation=linear
"""


def test_analyze_darknet_cfg(tmp_path: Path) -> None:
    """A .cfg path is built with darknet's semantics; layers carry darknet's numbering.

    conv0: 8x8x8 = 512 outputs x 27 = 13,824 MACs; conv1: 512 x 72 = 36,864 MACs.
    darknet FLOPs = 2 x 50,688 = 101,376; with 2020+ shortcut costs + 512 (one add per output).
    """
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(CFG)
    data = json.loads(invoke("analyze", str(cfg), "--convention", "darknet", "--format", "json").stdout)
    assert data["input_shape"] == [[1, 3, 16, 16]] and data["totals"]["flops"] == 101_376
    assert [layer["label"] for layer in data["layers"]][:2] == ["0 conv 3x3/2", "1 conv 3x3/1"]
    with_adds = json.loads(invoke("analyze", str(cfg), "--convention", "darknet", "--shortcut-flops",
                                  "--format", "json").stdout)
    assert with_adds["totals"]["flops"] == 101_376 + 512


def test_malformed_cfg_is_one_line_exit_2(tmp_path: Path) -> None:
    """A route to a layer that does not exist: file, line and problem, exit 2."""
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("[net]\nwidth=8\nheight=8\nchannels=3\n[route]\nlayers=-4\n")
    assert_one_line_error(invoke("analyze", str(cfg)), 2, "bad.cfg:6", "no such layer")


def test_profile_cli_json() -> None:
    """`cspcost profile` reports latency statistics and the environment stamp as JSON."""
    result = invoke("profile", "tinycsp", "--repeat", "3", "--warmup", "1", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["latency"]["runs"] == 3 and data["latency"]["median_ms"] > 0
    assert data["environment"]["threads"] == 1 and "torch" in data["environment"]


def test_profile_cli_bad_input() -> None:
    """Zero repeats and an absent CUDA are one-line usage errors."""
    assert_one_line_error(invoke("profile", "tinycsp", "--repeat", "0"), 2, "repeat")


def test_device_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cspcost device` prints the measured peaks (measurement stubbed: it is the profiler's to test)."""
    import cspcost.profiling.peaks as peaks

    fake = peaks.DevicePeaks("cpu", 100.0, 80.0, 10.0, {"threads": 1}, "2026-11-22T00:00:00Z")
    monkeypatch.setattr(peaks, "measure_peaks", lambda *a, **k: fake)
    result = invoke("device", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["matmul_gflops"] == 100.0


def test_profile_cli_per_layer_table() -> None:
    """The per-layer table fits 100 columns and names the walker's layers."""
    result = invoke("profile", "tinycsp", "--repeat", "3", "--warmup", "1", "--per-layer", "--top", "3")
    assert result.exit_code == 0, result.stderr
    assert "median " in result.stdout and "per layer" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 100
    assert "per-layer sum" in result.stderr.replace("\n", "")


def test_bad_option_is_one_line_from_the_console_script() -> None:
    """The installed command turns the parser's usage errors into one line, exit 2 (not a panel)."""
    out = subprocess.run([sys.executable, "-m", "cspcost", "models", "--convention", "fvcore"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert "fvcore" in out.stderr and "cspcost models --help" in out.stderr


def test_check_warns_about_unsupported_ops(tmp_path: Path) -> None:
    """check reports unsupported ops as analyze does, one line; strict by default, it fails the
    model (its figures are lower bounds); --no-strict lets the limits alone decide."""
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(f'["{NETS}:unpriced_net"]\ninput = "4"\nflops_max = 10\n')
    result = invoke("check", str(budgets))
    assert result.exit_code == 1 and "budgets exceeded" in result.stderr and "unsupported_ops" in result.stderr
    assert result.stderr.count("warning: no cost rule for aten.special_bessel_j0 x1") == 1
    assert "--strict fails instead" not in result.stderr  # it already fails: no hint at an option in force
    result = invoke("check", str(budgets), "--no-strict")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("warning: no cost rule for aten.special_bessel_j0 x1") == 1
    assert "(--strict fails instead)" in result.stderr


def test_debug_keeps_the_exit_code() -> None:
    """--debug shows the traceback but still exits 2 for bad input (not 1, the budget code)."""
    out = subprocess.run([sys.executable, "-m", "cspcost", "--debug", "analyze", "tinycsp", "--input", "abc"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" in out.stderr and "malformed input size" in out.stderr


@pytest.mark.parametrize("args,fragment", [(["--size", "0"], "--size"), (["--size", "64", "--input", "3x64x64"], "not both")])
def test_size_zero_or_with_input_is_refused(args: list[str], fragment: str) -> None:
    """--size 0 is not silently ignored; --size with --input is ambiguous: one line, exit 2."""
    out = subprocess.run([sys.executable, "-m", "cspcost", "analyze", "tinycsp", *args], capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == "" and len(out.stderr.strip().splitlines()) == 1
    assert fragment in out.stderr


def test_device_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cspcost device --format csv|md` give CSV and Markdown, as every other command does."""
    import cspcost.profiling.peaks as peaks

    fake = peaks.DevicePeaks("cpu", 100.0, 80.0, 10.0, {"threads": 1}, "2026-11-22T00:00:00Z")
    monkeypatch.setattr(peaks, "measure_peaks", lambda *a, **k: fake)
    assert invoke("device", "--format", "csv").stdout.startswith("field,value\n")
    assert invoke("device", "--format", "md").stdout.startswith("| field | value |")


def test_zero_limits_written_by_update_are_accepted(tmp_path) -> None:  # noqa: ANN001
    """A model without CSP blocks measures 0; --update writes 0 and check then accepts (and holds) it."""
    budgets = tmp_path / "budgets.toml"
    budgets.write_text("[resnet10]\ncsp_block_flops_max = 5\n")
    assert invoke("check", str(budgets), "--update").exit_code == 0
    assert "csp_block_flops_max = 0" in budgets.read_text()
    result = invoke("check", str(budgets))
    assert result.exit_code == 0, result.stderr


def test_ultralytics_json_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ultralytics' own log lines never reach stdout: --format json parses; a yaml without its scale
    letter is built as Ultralytics builds it, with a one-line warning on stderr."""
    pytest.importorskip("ultralytics")
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    out = subprocess.run([sys.executable, "-m", "cspcost", "analyze", "ultralytics:yolo11.yaml", "--format", "json",
                          "--input", "3x64x64"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["totals"]["params"] > 0
    assert out.stderr.strip().splitlines() == [line for line in out.stderr.strip().splitlines() if "names no scale" in line]
