"""The latency commands: calibration smoke, --predict on analyze and compare, explain, bad machine files."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cspcost.cli import app
from cspcost.latency.machine import ClassFit, MachineProfile, load, save
from cspcost.latency.opclass import CLASSES

runner = CliRunner()
EXAMPLE = str(Path(__file__).resolve().parent.parent / "docs" / "machines" / "jetson_orin_nano.json")


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own cache: nothing of the user's is read or written."""
    monkeypatch.setenv("CSPCOST_CACHE_DIR", str(tmp_path / "cache"))


def _machine_file(tmp_path: Path, runtime: str = "eager") -> str:
    """A synthetic calibrated file: each class 2 us per op plus 1e-11 s per unit of its first feature."""
    classes = {name: ClassFit(list(c.feature_names), [2e-6] + [1e-11] + [0.0] * (len(c.feature_names) - 2), 1)
               for name, c in CLASSES.items() if len(c.feature_names) > 1}
    classes["view"] = ClassFit(["overhead"], [1e-6], 1)
    profile = MachineProfile("calibrated", runtime, 1, "test cpu", {"torch": torch.__version__}, classes,
                             1e-6, 5e-7, 100.0, 10.0)
    return str(save(profile, tmp_path / f"{runtime}.json"))


def _one_line(result, fragment: str) -> None:  # noqa: ANN001
    """Exit 2, one line on stderr containing ``fragment``, no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr


def test_quick_calibration_smoke(tmp_path: Path) -> None:
    """device --calibrate --quick runs the tiny grid, prints the classes, writes a loadable file."""
    out = tmp_path / "quick.json"
    result = runner.invoke(app, ["device", "--calibrate", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "conv1x1" in result.stdout and "(per module call)" in result.stdout
    profile = load(out)
    assert profile.kind == "calibrated" and profile.runtime == "eager" and profile.grid == "quick"
    assert {"conv1x1", "convkxk", "eltwise"} <= set(profile.classes)
    assert not (tmp_path / "cache").exists()  # a quick grid is never cached


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="cspcost[openvino] not installed")
def test_quick_calibration_under_openvino_then_predict(tmp_path: Path) -> None:
    """OpenVINO calibrates (each op by its node counters) and predicts; BN and ReLU after a conv
    are fused (free), as the exported graph runs them."""
    out = tmp_path / "ov.json"
    result = runner.invoke(app, ["device", "--calibrate", "--quick", "--runtime", "openvino", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    profile = load(out)
    assert profile.runtime == "openvino" and profile.stamp["runtime_version"]
    assert all(fit.points > 0 for fit in profile.classes.values())
    result = runner.invoke(app, ["analyze", "resnet10", "--predict", "--machine", str(out), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["totals"]["predicted_ms"] > 0 and data["totals"]["predicted_runtime"] == "openvino"


def test_analyze_predict_json(tmp_path: Path) -> None:
    """--predict adds predicted_ms and bound per layer and predicted_ms to the totals."""
    result = runner.invoke(app, ["analyze", "resnet10", "--predict", "--machine", _machine_file(tmp_path),
                                 "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["totals"]["predicted_ms"] > 0 and data["totals"]["predicted_label"] == "predicted"
    assert all("predicted_ms" in row and row["bound"] in ("compute", "memory", "overhead", "none")
               for row in data["layers"])


def test_analyze_predict_table_with_depth(tmp_path: Path) -> None:
    """The terminal output adds a prediction table; --depth groups the predicted rows too."""
    result = runner.invoke(app, ["analyze", "resnet10", "--predict", "--machine", _machine_file(tmp_path),
                                 "--depth", "1"])
    assert result.exit_code == 0, result.stderr
    assert "predicted latency" in result.stdout and "pred ms" in result.stdout


def test_compare_predict_with_roofline_file() -> None:
    """compare --predict shows FLOPs, CIO and predicted ratios; a roofline file is called a bound."""
    result = runner.invoke(app, ["compare", "resnet10", "cspresnet10", "--predict", "--machine", EXAMPLE])
    assert result.exit_code == 0, result.stderr
    for label in ("FLOPs ratio", "CIO ratio", "predicted ratio"):
        assert label in result.stdout
    assert "lower bounds" in result.stderr


def test_explain_writes_chart(tmp_path: Path) -> None:
    """explain on a small input: the summary lines, the disagreements, and the PNG."""
    png = tmp_path / "explain.png"
    result = runner.invoke(app, ["explain", "resnet10", "--size", "64", "--repeat", "2", "--machine",
                                 _machine_file(tmp_path), "--plot", str(png)])
    assert result.exit_code == 0, result.stderr
    assert "FLOPs alone R^2" in result.stdout and "zero FLOPs" in result.stdout and "reason" in result.stdout
    assert png.stat().st_size > 10_000


def test_corrupt_machine_file(tmp_path: Path) -> None:
    """A corrupt file is one line, exit 2."""
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    _one_line(runner.invoke(app, ["analyze", "resnet10", "--predict", "--machine", str(bad)]), "not valid JSON")


def test_machine_file_of_another_runtime_refused(tmp_path: Path) -> None:
    """An onnxruntime file asked to predict eager is refused, naming both."""
    path = _machine_file(tmp_path, "onnxruntime")
    _one_line(runner.invoke(app, ["analyze", "resnet10", "--predict", "--machine", path, "--runtime", "eager"]),
              "runtime onnxruntime (asked: eager)")


def test_unknown_runtime(tmp_path: Path) -> None:
    """An unknown runtime is refused before any calibration."""
    _one_line(runner.invoke(app, ["analyze", "resnet10", "--predict", "--runtime", "tensorrt"]), "unknown runtime")
    assert not (tmp_path / "cache").exists()


def test_missing_machine_file(tmp_path: Path) -> None:
    """A machine path that does not exist is one line."""
    _one_line(runner.invoke(app, ["analyze", "resnet10", "--predict", "--machine", str(tmp_path / "no.json")]),
              "cannot read machine file")


@pytest.mark.parametrize("args", [["explain", "nosuchmodel"], ["compare", "resnet10", "nosuchmodel", "--predict"]])
def test_unknown_model_is_refused_before_a_first_use_calibration(args: list[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With no cached machine file, a bad model name is one line at once, not after a minute of
    calibration."""
    from cspcost.latency import engine

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("calibrated before the model was checked")

    monkeypatch.setattr(engine, "calibrate", never)
    _one_line(runner.invoke(app, args), "unknown model 'nosuchmodel'")
