"""Runtimes: the registry, the spec, ONNX export and its check, per-layer maps under ORT and OpenVINO,
several runtimes paired, torch.compile, workers that print, strict JSON."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from cspcost.cli import app
from cspcost.errors import MissingExtraError, UsageError
from cspcost.profiling.paired import paired
from cspcost.profiling.paired_result import PairedResult
from cspcost.profiling.run import profile
from cspcost.profiling.runtimes import RUNTIMES, get_runtime, parse_runtimes
from cspcost.profiling.runtimes import onnxrt as ort_backend
from cspcost.profiling.runtimes.base import ModuleTimes
from cspcost.profiling.runtimes.onnx_export import MismatchError, max_abs_diff
from cspcost.profiling.runtimes.onnx_graph import OnnxGraph, _common_module
from cspcost.profiling.spec import ProfileSpec

HAS_ORT = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))
HAS_OV = HAS_ORT and importlib.util.find_spec("openvino") is not None
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="cspcost[onnx] not installed")
needs_ov = pytest.mark.skipif(not HAS_OV, reason="cspcost[openvino] not installed")
PRINTING = Path(__file__).parent / "printing_model.py"
runner = CliRunner()


class ConvBnNet(nn.Module):
    """conv-BN-ReLU twice, a residual add, pool, linear: the fusions ORT and OpenVINO make."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two conv-BN layers with a residual add."""
        y = self.act1(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)) + y)
        return self.fc(self.pool(y).flatten(1))


def _net() -> nn.Module:
    """The test net with seed-0 weights and non-trivial BN statistics."""
    torch.manual_seed(0)
    net = ConvBnNet()
    for bn in (net.bn1, net.bn2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return net.eval()


def _strict(text: str) -> object:
    """JSON parsed with NaN/Infinity refused."""
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


# -- registry and spec ------------------------------------------------------------------------

def test_registry_lists_runtimes_and_refuses_unknown_ones() -> None:
    assert list(RUNTIMES) == ["eager", "compile", "onnxruntime", "openvino"]
    with pytest.raises(UsageError, match="unknown runtime 'tensorrt'; known runtimes: eager, compile, onnxruntime, openvino"):
        get_runtime("tensorrt")
    assert parse_runtimes("eager, onnxruntime") == ["eager", "onnxruntime"]
    with pytest.raises(UsageError, match="twice"):
        parse_runtimes("eager,eager")


def test_a_missing_runtime_is_one_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"^runtime 'onnxruntime': not installed \(pip install 'cspcost\[onnx\]'"):
        get_runtime("onnxruntime")


def test_spec_validates_and_round_trips_as_payload() -> None:
    spec = ProfileSpec(("resnet10",), (3, 64, 64), runtimes=("eager", "openvino"), repeat=7)
    assert spec.input_size == ((3, 64, 64),) and spec.runtime == "eager"
    again = ProfileSpec.from_payload(json.loads(json.dumps(spec.to_payload())))
    assert again == spec and again.key() == spec.key()
    assert spec.with_(repeat=8).key() != spec.key()
    for bad, match in (({"repeat": 0}, "repeat"), ({"dtype": "int8"}, "dtype"), ({"runtimes": ("x",)}, "unknown runtime"),
                       ({"threads": 0}, "threads"), ({"precision": "fp8"}, "precision")):
        with pytest.raises(UsageError, match=match):
            ProfileSpec(("m",), **bad)
    with pytest.raises(UsageError, match="not modules"):
        ProfileSpec((nn.Linear(1, 1),)).to_payload()


def test_module_times_shares_and_totals() -> None:
    # two runs: module a 3+5 ms, b 1+1 ms, unmapped Reorder 0+2 ms -> mapped 10 of 12 ms
    t = ModuleTimes({"a": [0.003, 0.005], "b": [0.001, 0.001]}, {"Reorder": [0.0, 0.002]}, [0.005, 0.009])
    assert t.run_totals_s() == pytest.approx([0.004, 0.008])
    assert t.mapped_share() == pytest.approx(10 / 12)


# -- the ONNX graph map -------------------------------------------------------------------------

def test_common_module_and_main_op_charging() -> None:
    assert _common_module(["stages.1.part1.conv", "stages.1.part2.blocks.0"]) == "stages.1"
    assert _common_module(["a.b", "c"]) == "(root)"
    g = OnnxGraph(module_of={"c": "conv", "r": "act", "a": "blk"}, op_of={"c": "Conv", "r": "Relu", "a": "Add"},
                  inputs_of={"c": ["x"], "a": ["y", "z"], "r": ["s"]}, producer={"y": "c", "s": "a"})
    assert g.charge(["r", "c"]) == ("conv", ["act"])  # the Conv is the main op, the Relu fused away
    assert g.main_upstream("r") == ["r", "a", "c"]  # Relu <- Add <- Conv (the branch a main op made)


def test_ort_names_without_fusion_suffixes() -> None:
    assert ort_backend._candidates("leaky_relu_3_nchwc") == ["leaky_relu_3_nchwc", "leaky_relu_3"]
    assert ort_backend._candidates("node_gelu/QuickGeluFusion/") == ["node_gelu/QuickGeluFusion/", "node_gelu"]
    assert ort_backend._candidates("ReorderInput_token_20")[-1] == "ReorderInput"


def test_map_events_sums_kernel_times_per_run() -> None:
    """Two runs of two nodes: a Conv (300 + 500 us) and a ReLU fused into it by name (100 + 100 us)."""
    g = OnnxGraph(module_of={"node_conv": "conv1", "node_relu": "act1"}, op_of={"node_conv": "Conv", "node_relu": "Relu"},
                  inputs_of={"node_conv": ["x"], "node_relu": ["c_out"]}, producer={"c_out": "node_conv", "relu_out": "node_relu"})

    class Proto:
        class graph:  # noqa: N801 - mimics onnx.ModelProto
            node: list = []

    events = [{"cat": "Session", "name": "model_run", "ts": 0, "dur": 1000},
              {"cat": "Session", "name": "model_run", "ts": 2000, "dur": 1000}]
    for run, (conv, relu) in enumerate(((300, 100), (500, 100))):
        events += [{"cat": "Node", "name": "node_conv_kernel_time", "ts": run * 2000 + 10, "dur": conv, "args": {"op_name": "Conv"}},
                   {"cat": "Node", "name": "relu_out_nchwc_kernel_time", "ts": run * 2000 + 500, "dur": relu,
                    "args": {"op_name": "Conv"}},  # ORT's fused Conv+ReLU, named after the ReLU's tensor
                   {"cat": "Node", "name": "mystery_kernel_time", "ts": run * 2000 + 900, "dur": 50, "args": {"op_name": "Foo"}}]
    t = ort_backend.map_events(events, g, Proto())
    assert t.per_run_s == {"conv1": pytest.approx([400e-6, 600e-6])}
    assert t.unmapped_s == {"Foo": pytest.approx([50e-6, 50e-6])}
    assert t.fused_away == {"conv1": ["act1"]} and t.wall_s == pytest.approx([1e-3, 1e-3])
    assert t.mapped_share() == pytest.approx(1000 / 1100)


def test_outputs_beyond_tolerance_are_refused() -> None:
    ref = [torch.tensor([1.0, -2.0])]
    assert max_abs_diff(ref, [np.array([1.0, -2.0005])], "x") == pytest.approx(5e-4, rel=1e-3)  # 5e-4 <= 1e-4 + 1e-3 * 2
    with pytest.raises(MismatchError, match=r"x's outputs differ from eager PyTorch's by 0\.01 .*--runtime eager"):
        max_abs_diff(ref, [np.array([1.0, -1.99])], "x")
    with pytest.raises(MismatchError, match="2 outputs"):
        max_abs_diff(ref, [np.zeros(2), np.zeros(2)], "x")


# -- ONNX Runtime and OpenVINO on a real (tiny) model ------------------------------------------------

@needs_ort
def test_export_is_cached_and_a_failing_export_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cspcost.profiling.runtimes.onnx_export import ExportError, export_onnx

    net, x = _net(), torch.randn(1, 3, 16, 16)
    first = export_onnx(net, [x], str(tmp_path))
    second = export_onnx(net, [x], str(tmp_path))
    assert not first.cached and second.cached and first.path == second.path and first.exporter == "dynamo"
    assert first.path.parent == tmp_path and first.opset == 18
    other = _net()
    other.fc.bias.data += 1  # same structure, other weights: another file
    assert export_onnx(other, [x], str(tmp_path)).path != first.path

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Unsupported op aten::frobnicate in module 'block.3'")

    monkeypatch.setattr(torch.onnx, "export", fail)
    with pytest.raises(ExportError, match=r"^cannot export the model to ONNX: aten\.frobnicate: RuntimeError: Unsupported op"
                                          r".*--runtime eager$"):
        export_onnx(nn.Linear(2, 3), [torch.randn(1, 2)], str(tmp_path))
    calls = []

    def dynamo_fails(*args: object, dynamo: bool = True, **kwargs: object) -> None:
        calls.append(dynamo)
        if dynamo:
            raise RuntimeError("no dynamo today")
        Path(args[2]).write_bytes(b"onnx")  # the TorchScript exporter writes the file

    monkeypatch.setattr(torch.onnx, "export", dynamo_fails)
    with pytest.warns(UserWarning, match=r"dynamo ONNX exporter failed \(RuntimeError: no dynamo today\); used the TorchScript"):
        fallback = export_onnx(nn.Linear(2, 4), [torch.randn(1, 2)], str(tmp_path))
    assert calls == [True, False] and fallback.exporter == "torchscript" and fallback.path.read_bytes() == b"onnx"


@needs_ort
@pytest.mark.parametrize("runtime", ["onnxruntime", pytest.param("openvino", marks=needs_ov)])
def test_per_layer_under_an_onnx_runtime_maps_to_the_walkers_modules(runtime: str, tmp_path: Path) -> None:
    r = profile(_net(), (3, 32, 32), warmup=2, repeat=3, per_layer=True, peaks=False, runtime=runtime,
                cache_dir=str(tmp_path))
    assert r.runtime == runtime and r.environment["runtime"] == runtime
    assert r.environment["max_abs_diff_vs_eager"] < 1e-4 and r.environment["onnx_exporter"] == "dynamo"
    assert r.mapped_time_share is not None and r.mapped_time_share >= 0.95
    layers = r.layers.set_index("name")
    # The BN folded into each conv is charged to the conv (the walker's row with the conv's FLOPs)
    assert layers.loc["conv1", "latency_ms"] > 0 and layers.loc["conv2", "latency_ms"] > 0
    assert "bn1" in r.fused_away["conv1"] and layers.loc["bn1", "latency_ms"] == 0
    assert layers.loc["conv1", "flops"] == 2 * 8 * 3 * 9 * 32 * 32  # joined with the walker's FLOPs
    assert layers.loc["conv1", "cio_elems"] == 3 * 32 * 32 + 8 * 32 * 32  # and CIO: input + output of the conv
    assert layers["cio_share"].sum() == pytest.approx(1.0)
    data = _strict(r.to_json())
    assert data["runtime"] == runtime and 0.95 <= data["mapped_time_share"] <= 1
    assert all("latency_ms" in row for row in data["layers"])
    # the per-layer sum is the runtime's node time, compared with interleaved plain forwards
    assert r.layer_summary["layer_runs"] == 3 and r.layer_summary["layer_sum_ratio"] > 0


@needs_ov
def test_openvino_states_its_precision(tmp_path: Path) -> None:
    r = profile(_net(), (3, 16, 16), warmup=1, repeat=2, runtime="openvino", cache_dir=str(tmp_path))
    assert r.environment["precision_hint"] == "f32" and r.environment["precision_asked"] == "f32"
    own = profile(_net(), (3, 16, 16), warmup=1, repeat=2, runtime="openvino", precision="default",
                  cache_dir=str(tmp_path))
    assert own.environment["precision_asked"] == "default" and own.environment["precision_hint"]


@needs_ov
def test_one_model_under_several_runtimes_is_paired(tmp_path: Path) -> None:
    r = profile(_net(), (3, 16, 16), warmup=1, repeat=6, runtime="eager,onnxruntime,openvino", cache_dir=str(tmp_path))
    assert isinstance(r, PairedResult) and [m.runtime for m in r.models] == ["eager", "onnxruntime", "openvino"]
    assert r.models[0].ratio.median == 1.0 and r.rounds == 6
    # each runtime's ratio is the median of its per-round time over eager's in the same round
    ratios = [a / b for a, b in zip(r.models[1].samples_ms, r.models[0].samples_ms)]
    assert r.models[1].ratio.median == pytest.approx(float(np.median(ratios)))
    data = _strict(json.dumps(r.to_dict()))
    assert data["environment"]["runtime"] == "eager,onnxruntime,openvino"
    assert [p["runtime"] for p in data["environment"]["prepared"]] == ["eager", "onnxruntime", "openvino"]


@needs_ort
def test_models_paired_under_onnxruntime(tmp_path: Path) -> None:
    r = paired([_net(), _net()], (3, 16, 16), warmup=1, rounds=6, runtime="onnxruntime", cache_dir=str(tmp_path))
    assert [m.runtime for m in r.models] == ["onnxruntime"] * 2 and r.to_dict()["runtime"] == "onnxruntime"


@needs_ort
def test_ort_level_reaches_the_session_and_its_stamp(tmp_path: Path) -> None:
    """--ort-level extended runs ONNX Runtime at ORT_ENABLE_EXTENDED, in profile and paired alike."""
    result = profile(_net(), (3, 8, 8), repeat=2, warmup=0, runtime="onnxruntime", cache_dir=str(tmp_path),
                     ort_level="extended")
    assert result.environment["graph_optimization"] == "ORT_ENABLE_EXTENDED"
    default = profile(_net(), (3, 8, 8), repeat=2, warmup=0, runtime="onnxruntime", cache_dir=str(tmp_path))
    assert default.environment["graph_optimization"] == "ORT_ENABLE_ALL"
    r = paired([_net(), _net()], (3, 8, 8), warmup=1, rounds=6, runtime="onnxruntime", cache_dir=str(tmp_path),
               ort_level="basic")
    assert r.to_dict()["environment"]["prepared"][0]["graph_optimization"] == "ORT_ENABLE_BASIC"


def test_unknown_ort_level_is_one_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown ONNX Runtime level 'fast'; use one of all, extended, basic, disabled"):
        ProfileSpec(("resnet10",), ort_level="fast")


def test_compare_profiles_ort_at_the_level_the_prediction_is_for(capsys: pytest.CaptureFixture[str]) -> None:
    """With --predict beside --profile under ORT, the measurement follows the machine file's level
    unless told otherwise (then a warning: the two ratios would be of different settings)."""
    from types import SimpleNamespace

    from cspcost.cli.measure import _ort_level

    machine = SimpleNamespace(ort_level="extended")
    assert _ort_level(None, True, machine) == "extended"
    assert _ort_level("all", True, machine) == "all"
    assert "predicted for extended" in capsys.readouterr().err
    assert _ort_level(None, False, machine) == "all"  # eager measured: ORT's level is moot
    assert _ort_level("basic", False, machine) == "basic"
    assert "--ort-level applies to --profile --runtime onnxruntime; ignored here" in capsys.readouterr().err
    assert _ort_level(None, True, None) == "all"  # no prediction: ORT's own default
    with pytest.raises(UsageError, match="unknown --ort-level"):
        _ort_level("fast", True, None)


def test_compile_refuses_per_layer_in_one_line() -> None:
    with pytest.raises(UsageError, match="^--per-layer: the compile runtime cannot time layers"):
        profile(_net(), (3, 8, 8), per_layer=True, runtime="compile")


def test_compile_states_compile_time_apart_from_latency() -> None:
    r = profile(nn.Sequential(nn.Linear(8, 8), nn.ReLU()).eval(), (8,), warmup=1, repeat=3, runtime="compile")
    assert r.runtime == "compile" and r.environment["compile_s"] > 0 and r.environment["freezing"] is True
    assert r.latency.runs == 3 and r.latency.median_ms < r.environment["compile_s"] * 1e3


# -- workers that print, strict JSON, the CLI ---------------------------------------------------------

def test_a_printing_model_does_not_corrupt_worker_results() -> None:
    result = runner.invoke(app, ["profile", f"{PRINTING}:build", "-i", "3x8x8", "--warmup", "1", "--repeat", "2",
                                 "--processes", "2", "-f", "json"])
    assert result.exit_code == 0, result.stderr
    assert _strict(result.stdout)["latency"]["runs"] == 4


def test_repeat_one_json_is_strict() -> None:
    result = runner.invoke(app, ["profile", "tinycsp", "--warmup", "1", "--repeat", "1", "-f", "json"])
    assert result.exit_code == 0, result.stderr
    data = _strict(result.stdout)
    assert data["latency"]["std_ms"] is None and data["latency"]["cv"] is None


def test_cli_runtime_errors_are_one_line() -> None:
    for args, fragment in ((["--runtime", "tensorrt"], "known runtimes: eager, compile, onnxruntime, openvino"),
                           (["--runtime", "compile", "--per-layer"], "cannot time layers")):
        result = runner.invoke(app, ["profile", "tinycsp", "--repeat", "2", *args])
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert fragment in result.stderr and "Traceback" not in result.stderr


@needs_ort
def test_compare_profile_under_onnxruntime_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSPCOST_CACHE_DIR", str(tmp_path))
    result = runner.invoke(app, ["compare", "tinycsp", "tinycsp", "--profile", "--runtime", "onnxruntime",
                                 "--rounds", "6", "--processes", "1", "-f", "json"])
    assert result.exit_code == 0, result.stderr
    data = _strict(result.stdout)
    assert data["runtime"] == "onnxruntime" and data["latency"]["runtime"] == "onnxruntime"
    row = data["models"][1]
    assert not math.isnan(row["latency_ratio"]) and len(row["latency_ratio_ci95"]) == 2


def test_table5_per_runtime_puts_one_ratio_column_per_runtime(tmp_path: Path) -> None:
    """A fake measurement: cspresnet10 takes 8, 9 and 11 ms to resnet10's 10 ms under the three runtimes."""
    import cspcost.report as report
    from cspcost.profiling.paired_result import build_result

    ms = {"eager": 8.0, "onnxruntime": 9.0, "openvino": 11.0}

    def measure(models, rounds, warmup, processes, runtime):  # noqa: ANN001, ANN202
        seconds = [[0.010] * rounds, [ms[runtime] / 1e3] * rounds]
        env = {"cpu_model": "Fake CPU", "threads": 1, "cpu_share": 0.9, runtime: f"{runtime}-1.0",
               "onnx_file": "/tmp/x.onnx"}
        return build_result(models, [(1, 3, 256, 256)] * 2, [seconds], [[0, 1]] * rounds, warmup, env,
                            runtimes=[runtime] * 2)

    frame, env = report.table5([("resnet10", "cspresnet10")], rounds=6, measure=measure, runtimes=list(ms))
    assert list(frame["runtime"]) == list(ms) and list(frame["latency_ratio"]) == pytest.approx([0.8, 0.9, 1.1])
    assert env["onnxruntime"] == "onnxruntime-1.0" and env["openvino"] == "openvino-1.0" and "onnx_file" not in env
    text = report.table5_markdown(frame, env, 6, "Measured under load.")
    assert "| eager ratio [95%] | onnxruntime ratio [95%] | openvino ratio [95%] |" in text
    assert "| cspresnet10 | resnet10 | 256 | 0.826 | 1.095 | 0.800 [0.800-0.800] + | 0.900 [0.900-0.900] + | 1.100 [1.100-1.100] - |" in text
    assert "Measured under load." in text and "--runtime eager,onnxruntime,openvino" in text


class Histogram(nn.Module):
    """An op no ONNX exporter converts (``torch.histc``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A 4-bin histogram."""
        return torch.histc(x, bins=4)


@needs_ort
def test_a_model_that_cannot_export_names_the_op_and_module(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    net = nn.Sequential(nn.Conv2d(3, 3, 1), Histogram())
    with pytest.raises(UsageError, match=r"^cannot export the model to ONNX: aten\.histc in module '1' \(Histogram\): "
                                         r".*; time it with --runtime eager$"):
        profile(net, (3, 8, 8), repeat=2, runtime="onnxruntime", cache_dir=str(tmp_path))
    out, _ = capfd.readouterr()
    assert out == ""  # the exporters' graph dumps do not reach stdout


def _imports(path: Path, package: str) -> set[str]:
    """The cspcost.profiling modules a file imports anywhere (function-local too; not under TYPE_CHECKING)."""
    import ast

    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(package))
    return found


def test_profiling_has_no_import_circle() -> None:
    root = Path(__file__).parents[1] / "cspcost" / "profiling"
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = _imports(path, "cspcost.profiling")
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        if state.get(module) == 1:
            raise AssertionError("import circle: " + " -> ".join(trail[trail.index(module):] + [module]))
        if state.get(module) == 2 or module not in modules:
            return
        state[module] = 1
        for other in sorted(modules[module]):
            visit(other, trail + [module])
        state[module] = 2

    for module in sorted(modules):
        visit(module, [])
    assert "cspcost.profiling.runtimes.onnxrt" in modules and len(modules) > 20


def test_unwritable_onnx_cache_exports_into_a_temporary_folder(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: an ONNX cache folder that cannot be made (under a regular file, so root too) costs
    one warning; the model is exported into a temporary folder instead."""
    from cspcost.cache import CacheWarning
    from cspcost.profiling.runtimes.onnx_export import export_onnx

    blocker = tmp_path / "a-file"
    blocker.write_text("")

    class Program:
        def save(self, path: str) -> None:
            Path(path).write_bytes(b"onnx")

    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: Program())
    with pytest.warns(CacheWarning, match=r"cannot write the ONNX export cache .*a-file/sub") as record:
        exported = export_onnx(nn.Linear(2, 4), [torch.randn(1, 2)], str(blocker / "sub"))
    assert len(record) == 1 and not exported.cached and exported.path.read_bytes() == b"onnx"
    assert blocker not in exported.path.parents


@needs_ort
def test_onnxruntime_optimisation_level_is_an_option_and_stamped(tmp_path: Path) -> None:
    """The backend runs ORT's default level (ORT_ENABLE_ALL) unless asked; latency calibration's
    session options (ORT_ENABLE_EXTENDED) come from the same builder; a bad name is one UsageError."""
    import onnxruntime as ort

    from cspcost.latency.runtimes import make_runtime
    from cspcost.profiling.runtimes import RuntimeOptions

    session_options = ort_backend.session_options

    assert session_options(1).graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert session_options(1, "ORT_ENABLE_EXTENDED").graph_optimization_level == \
        ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    with pytest.raises(UsageError, match="unknown ONNX Runtime optimisation level 'fast'"):
        session_options(1, "fast")
    backend, x = get_runtime("onnxruntime"), torch.randn(1, 2)
    default = backend.prepare(nn.Linear(2, 3).eval(), [x], RuntimeOptions(torch.device("cpu"), 1, cache_dir=str(tmp_path)))
    extended = backend.prepare(nn.Linear(2, 3).eval(), [x], RuntimeOptions(
        torch.device("cpu"), 1, cache_dir=str(tmp_path), ort_optimization="ORT_ENABLE_EXTENDED"))
    assert default.stamp()["graph_optimization"] == "ORT_ENABLE_ALL"
    assert extended.stamp()["graph_optimization"] == "ORT_ENABLE_EXTENDED"
    assert make_runtime("onnxruntime").optimization == "ORT_ENABLE_EXTENDED"
