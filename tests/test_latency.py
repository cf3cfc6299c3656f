"""The latency model: fitting on synthetic data, machine files, classification, prediction by hand,
ONNX Runtime fusion, nearest-class flags, the explanation's statistics. No timing assertions."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from cspcost.latency import fit
from cspcost.latency.explain import explain_frames
from cspcost.latency.machine import ClassFit, MachineFileError, MachineProfile, check_fits, load, save
from cspcost.latency.neighbours import correction
from cspcost.latency.opclass import CLASSES, classify
from cspcost.latency.predict import predict
from cspcost.walk.analysis import measure_rows

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "machines" / "jetson_orin_nano.json"


# --- fitting -------------------------------------------------------------------------------------

def test_fit_relative_recovers_known_overhead_and_cost() -> None:
    """t = b + a * flops with a = 2e-11 s/flop, b = 5e-6 s: recovered from exact samples."""
    flops = np.array([1e5, 1e6, 1e7, 1e8, 1e9])
    times = 5e-6 + 2e-11 * flops
    coef = fit.fit_relative(np.column_stack([np.ones_like(flops), flops]), times)
    assert coef == pytest.approx([5e-6, 2e-11], rel=1e-9)


def test_fit_relative_weighs_sub_microsecond_times_as_a_microsecond() -> None:
    """Samples at a counter's resolution (0.1-0.3 us) beside real ones still give a fit (t = 2e-12 x
    bytes): relative weights are capped at 1/1 us, so the tiny samples cannot pin every cost at 0."""
    moved = np.array([1e4, 5e4, 1e5, 1e6, 1e7, 1e8])
    times = 2e-12 * moved  # 0.02 us ... 200 us
    times[:2] = [1e-7, 2e-7]  # what a microsecond counter's mean reports for the smallest
    coef = fit.fit_relative(np.column_stack([np.ones_like(moved), moved]), times)
    assert coef[1] == pytest.approx(2e-12, rel=0.05)


def test_fit_relative_keeps_coefficients_non_negative() -> None:
    """A feature that would need a negative cost gets 0; the others still fit."""
    x = np.array([1.0, 2.0, 3.0, 4.0])
    times = 3.0 * x  # the third column (-x) would be used with a negative weight by plain lstsq
    coef = fit.fit_relative(np.column_stack([np.ones_like(x), x, 10 - x]), times)
    assert (coef >= 0).all()
    assert coef @ np.array([1.0, 5.0, 5.0]) == pytest.approx(15.0, rel=1e-6)


def test_nnls_matches_unconstrained_when_solution_positive() -> None:
    """NNLS equals least squares when the least-squares solution is already non-negative."""
    rng = np.random.default_rng(0)
    a = rng.uniform(0.1, 1.0, (20, 3))
    b = a @ np.array([1.0, 2.0, 0.5])
    assert fit.nnls(a, b) == pytest.approx([1.0, 2.0, 0.5], rel=1e-9)


def test_line_and_leave_one_out_by_hand() -> None:
    """y = 2x + 1 exactly: the line and each left-out point are recovered; R^2 = 1."""
    x, y = [1.0, 2.0, 3.0, 4.0], [3.0, 5.0, 7.0, 9.0]
    assert fit.fit_line(x, y) == pytest.approx((2.0, 1.0))
    assert fit.leave_one_out_line(x, y) == pytest.approx(y)
    assert fit.flops_r_squared(x, y) == pytest.approx(1.0)


def test_scores_by_hand() -> None:
    """R^2 = 1 - SS_res/SS_tot: measured [1, 2, 3], predicted [1, 2, 4]: 1 - 1/2 = 0.5; ranks with ties."""
    assert fit.r_squared([1, 2, 4], [1, 2, 3]) == pytest.approx(0.5)
    assert fit.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert fit.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert list(fit.ranks([5, 1, 5])) == [2.5, 1.0, 2.5]
    assert list(fit.abs_errors([110, 90], [100, 100])) == pytest.approx([0.1, 0.1])


def test_neighbour_correction_by_hand() -> None:
    """One neighbour at distance 0 with log-ratio ln 2 doubles; one at RADIUS or another category: 1."""
    assert correction([["s1", [1.0, 1.0], math.log(2)]], "s1", [1.0, 1.0]) == pytest.approx(2.0)
    assert correction([["s1", [1.0, 1.0], math.log(2)]], "s2", [1.0, 1.0]) == 1.0
    assert correction([["s1", [0.0, 0.0], math.log(2)]], "s1", [1.5, 0.0]) == 1.0
    # distance 0.75 = RADIUS / 2: half the log-ratio
    assert correction([["s1", [0.0], math.log(4)]], "s1", [0.75]) == pytest.approx(2.0)


# --- machine files -------------------------------------------------------------------------------

def _machine(runtime: str = "eager", **coef: list[float]) -> MachineProfile:
    """A calibrated machine whose classes have the given coefficients (the rest: 1 us overhead only)."""
    classes = {}
    for name, cls in CLASSES.items():
        values = coef.get(name, [1e-6] + [0.0] * (len(cls.feature_names) - 1))
        classes[name] = ClassFit(list(cls.feature_names), values, 1, 0.0)
    return MachineProfile("calibrated", runtime, 1, "test cpu", {"torch": torch.__version__}, classes,
                          run_overhead_s=2e-6, module_call_s=1e-6, peak_gflops=100.0, bandwidth_gbs=10.0)


def test_machine_file_round_trip(tmp_path: Path) -> None:
    """save then load gives the same profile, and the file says what it is."""
    profile = _machine()
    path = save(profile, tmp_path / "m.json")
    data = json.loads(path.read_text())
    assert data["format"] == "cspcost-machine" and data["version"] == 1 and data["kind"] == "calibrated"
    assert load(path) == profile


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"),
    ('{"format": "other"}', "not a cspcost machine file"),
    ('{"format": "cspcost-machine", "version": 99}', "version 99"),
    ('{"format": "cspcost-machine", "version": 1, "kind": "guess", "runtime": "eager", "threads": 1, "device": "x"}',
     "kind 'guess'"),
    ('{"format": "cspcost-machine", "version": 1, "kind": "roofline", "runtime": "x", "threads": 1, "device": "x"}',
     "peak_gflops > 0"),
    ('{"format": "cspcost-machine", "version": 1, "kind": "calibrated", "runtime": "eager", "threads": 1, "device": "x",'
     ' "classes": {"warp": {"features": [], "coef": []}}}', "unknown op class 'warp'"),
    ('{"format": "cspcost-machine", "version": 1, "kind": "calibrated", "runtime": "eager", "threads": 1, "device": "x",'
     ' "classes": {"view": {"features": ["overhead"], "coef": [-1]}}}', "negative"),
])
def test_bad_machine_files_are_one_error(tmp_path: Path, text: str, fragment: str) -> None:
    """Each malformed file is one MachineFileError (exit 2) naming the problem."""
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(MachineFileError, match=fragment) as info:
        load(path)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_other_runtime_or_threads_refused_versions_warned() -> None:
    """Another runtime or thread count is refused naming both; another torch version warns."""
    profile = _machine("onnxruntime")
    with pytest.raises(MachineFileError, match=r"runtime onnxruntime \(asked: eager\)"):
        check_fits(profile, "eager", None)
    with pytest.raises(MachineFileError, match=r"threads 1 \(asked: 2\)"):
        check_fits(profile, None, 2)
    warnings = check_fits(profile, "onnxruntime", 1, {"torch": "0.0.1"})
    assert len(warnings) == 1 and "torch" in warnings[0] and "0.0.1" in warnings[0]


def test_example_roofline_file_is_valid() -> None:
    """The shipped hand-written file loads as a roofline (bounds) file."""
    profile = load(EXAMPLE)
    assert profile.is_bound and profile.peak_gflops > 0 and profile.bandwidth_gbs > 0


# --- classification and prediction ---------------------------------------------------------------

class _Block(nn.Module):
    """conv 3x3 -> BN -> ReLU -> depthwise 3x3 -> conv 1x1 -> add -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.act = nn.ReLU()
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.mult = nn.Conv2d(16, 32, 3, padding=1, groups=16, bias=False)  # channel multiplier 2
        self.grouped = nn.Conv2d(16, 16, 3, padding=1, groups=4, bias=False)
        self.pw = nn.Conv2d(16, 16, 1, bias=False)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block."""
        y = self.act(self.bn(self.conv(x)))
        y = self.pw(self.grouped(self.dw(y))) + y + self.mult(y)[:, :16]
        return self.fc(y.mean((2, 3)))


def test_classify_each_kind() -> None:
    """Each op lands in its class."""
    measured = measure_rows(_Block(), (8, 16, 16))
    classes = {op["module"] + ":" + op["op"]: classify(measured.capture.events[op["index"]], op)[0]
               for op in measured.ops}
    assert classes["conv:aten.conv2d"] == "convkxk"
    assert classes["dw:aten.conv2d"] == "conv_depthwise"
    assert classes["mult:aten.conv2d"] == "conv_depthwise_mult"
    assert classes["grouped:aten.conv2d"] == "conv_grouped"
    assert classes["pw:aten.conv2d"] == "conv1x1"
    assert classes["bn:aten.batch_norm"] == "bn"
    assert classes["fc:aten.linear"] == "matmul"
    assert classes["(root):aten.add"] == "eltwise"
    assert classes["(root):aten.mean"] == "reduce"


def test_pool_work_names_window_and_stride_by_hand() -> None:
    """Max and average pools are classes of their own; each op's category names its window and
    stride, and ``outputs`` counts its windows."""
    pools = nn.Sequential(nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2))
    measured = measure_rows(pools, (8, 16, 16))
    (name0, work0), (name1, work1) = [classify(measured.capture.events[op["index"]], op) for op in measured.ops]
    assert (name0, name1) == ("maxpool", "avgpool")
    assert work0.category == "aten.max_pool2d w9 s2" and work0.outputs == 8 * 8 * 8  # 16 -> 8 with padding 1
    assert work1.category == "aten.avg_pool2d w4 s2" and work1.outputs == 8 * 4 * 4
    assert work0.flops == 9 * 8 * 8 * 8  # one comparison per tap per output (walk.rules.max_pool)
    features = CLASSES["maxpool"].features(work0)
    bytes_moved = 4 * (8 * 16 * 16 + 8 * 8 * 8)  # 10,240 B: well inside L2, so the ramp is 0
    assert features[:5] == [1.0, 512.0, 4608.0, 0.0, 0.0] and features[5] == bytes_moved


def test_l2_ramp_by_hand() -> None:
    """0 up to 256 KiB, 1 from 2 MiB, log-linear between (512 KiB: one of three octaves)."""
    from cspcost.latency.opclass import _l2_ramp

    assert _l2_ramp(100_000) == 0.0 and _l2_ramp(4 << 20) == 1.0
    assert _l2_ramp(512 << 10) == pytest.approx(1 / 3)


def test_depthwise_and_grouped_shape_terms_by_hand() -> None:
    """Depthwise: planes, and the idle share of 16-lane channel blocks (24 channels fill 2 blocks
    of 16: 8/24 idle); a channel multiplier's strided terms; a grouped conv's per-group count."""
    dw24 = nn.Conv2d(24, 24, 3, 2, 1, groups=24, bias=False)
    mult = nn.Conv2d(16, 32, 3, 2, 1, groups=16, bias=False)
    grouped = nn.Conv2d(16, 8, 3, 1, 1, groups=8, bias=False)  # 2 in, 1 out per group
    for module, size, expected in ((dw24, (24, 16, 16), "conv_depthwise"), (mult, (16, 16, 16), "conv_depthwise_mult"),
                                   (grouped, (16, 16, 16), "conv_grouped")):
        measured = measure_rows(module, size)
        op = measured.ops[0]
        name, work = classify(measured.capture.events[op["index"]], op)
        assert name == expected
        feats = dict(zip(CLASSES[name].feature_names, CLASSES[name].features(work)))
        if name == "conv_depthwise":
            flops = 2 * 9 * 24 * 8 * 8  # 27,648
            assert work.flops == flops and feats["planes"] == 24
            assert feats["flops_idle_lanes"] == pytest.approx(flops * 8 / 24)
            assert work.category == "s2 unaligned"
        elif name == "conv_depthwise_mult":
            flops = 2 * 9 * 32 * 8 * 8  # 36,864
            assert feats["flops_strided"] == flops and feats["flops_per_multiplier_strided"] == flops / 2
            assert feats["flops_idle_lanes"] == 0.0 and work.category == "s2"
        else:
            flops = 2 * 2 * 9 * 8 * 16 * 16  # 73,728
            assert feats["flops_per_cin_cout_g"] == flops / (2 * 1)  # = 2 x 9 taps x 8 groups x 256 pixels


def test_prediction_by_hand() -> None:
    """A lone conv with cost 1e-11 s/flop and 3e-6 s overhead: predicted = overhead + flops x cost + fixed."""
    conv = nn.Conv2d(8, 16, 3, padding=1, bias=False)
    zero = [0.0] * (len(CLASSES["convkxk"].feature_names) - 2)
    machine = _machine(convkxk=[3e-6, 1e-11, *zero])
    prediction = predict(conv, machine, (8, 16, 16))
    flops = 2 * 8 * 16 * 9 * 16 * 16  # 2 x MACs = 589,824
    op_ms = (3e-6 + flops * 1e-11) * 1e3
    fixed_ms = (2e-6 + 1e-6 * 1) * 1e3  # one forward, one module call
    assert prediction.ops["predicted_ms"].iloc[0] == pytest.approx(op_ms)
    assert prediction.predicted_ms == pytest.approx(op_ms + fixed_ms)
    assert prediction.layers["bound"].iloc[0] == "compute"  # 5.9 us of flops > 3 us of overhead
    assert prediction.totals["predicted_label"] == "predicted"


def test_layers_and_fixed_costs_add_up_to_total() -> None:
    """Per-layer predicted ms plus the fixed overheads equal the total."""
    prediction = predict(_Block(), _machine(), (8, 16, 16))
    assert prediction.layers["predicted_ms"].sum() + prediction.totals["predicted_overhead_ms"] == pytest.approx(
        prediction.predicted_ms)


def test_roofline_file_gives_bounds_by_hand() -> None:
    """A roofline file: each op max(flops / peak, bytes / bandwidth), labelled a lower bound."""
    conv = nn.Conv2d(8, 16, 3, padding=1, bias=False)
    machine = MachineProfile("roofline", "any", 1, "board", peak_gflops=1.0, bandwidth_gbs=1.0)
    prediction = predict(conv, machine, (8, 16, 16))
    flops = 2 * 8 * 16 * 9 * 16 * 16  # 589,824 flops at 1 GFLOP/s: 0.589824 ms
    moved = 4 * (8 * 16 * 16 + 16 * 8 * 9 + 16 * 16 * 16)  # input + weight + output, float32: 29,312 bytes
    assert prediction.predicted_ms == pytest.approx(max(flops, moved) / 1e6)
    assert prediction.totals["predicted_label"] == "lower bound (roofline)"


def test_onnxruntime_fuses_bn_and_relu_after_conv() -> None:
    """Under ONNX Runtime, the BN and ReLU right after a conv cost nothing; eager pays for them."""
    eager = predict(_Block(), _machine("eager"), (8, 16, 16)).ops.set_index("module")
    ort = predict(_Block(), _machine("onnxruntime"), (8, 16, 16)).ops.set_index("module")
    assert ort.loc["bn", "predicted_ms"] == 0 and ort.loc["act", "predicted_ms"] == 0
    assert ort.loc["bn", "note"] == "fused"
    assert eager.loc["bn", "predicted_ms"] > 0 and eager.loc["act", "predicted_ms"] > 0


class _Heads(nn.Module):
    """A transpose before a softmax (a DFL head) and one before a matmul (``q @ k^T``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Both transposes."""
        y = x.transpose(1, 2).softmax(1)  # (1, 8, 4, 16): 512 floats, 2,048 B
        return y @ y.transpose(2, 3)


def test_onnxruntime_pays_for_a_transpose_unless_a_matmul_takes_it() -> None:
    """ONNX Runtime materialises a transpose (a Transpose node: its output read and written once,
    priced as a copy) but folds the one feeding a matrix product; eager prices both as views."""
    per_byte = 1e-9  # s per byte of the copy class, 1 us overhead
    copy = [1e-6, per_byte] + [0.0] * (len(CLASSES["copy"].feature_names) - 2)
    ort = predict(_Heads(), _machine("onnxruntime", copy=copy), (4, 8, 16)).ops
    transposes = ort[ort["op"] == "aten.transpose"]
    first, second = transposes.iloc[0], transposes.iloc[1]
    assert first["op_class"] == "copy" and first["bytes"] == 2 * 2048
    assert first["predicted_ms"] == pytest.approx((1e-6 + 2 * 2048 * per_byte) * 1e3)
    assert second["op_class"] == "view"  # k^T of a product: FusedMatMul
    eager = predict(_Heads(), _machine("eager", copy=copy), (4, 8, 16)).ops
    assert set(eager.loc[eager["op"] == "aten.transpose", "op_class"]) == {"view"}


def test_missing_class_predicted_from_nearest_and_flagged() -> None:
    """A machine file without depthwise points predicts them as grouped convs, and says so."""
    machine = _machine()
    classes = {k: v for k, v in machine.classes.items() if k != "conv_depthwise"}
    machine = MachineProfile(**{**machine.__dict__, "classes": classes})
    prediction = predict(_Block(), machine, (8, 16, 16))
    assert prediction.substituted["conv_depthwise"] == "conv_grouped"
    assert any("conv_depthwise" in w and "conv_grouped" in w for w in prediction.warnings)
    assert bool(prediction.layers.set_index("name").loc["dw", "nearest_class"])


# --- explanation ---------------------------------------------------------------------------------

def test_explanation_statistics_by_hand() -> None:
    """Synthetic layers: shares, FLOPs R^2, zero-FLOPs share and the largest disagreement."""
    prediction = predict(_Block(), _machine(), (8, 16, 16))
    names = list(prediction.layers["name"])
    measured = pd.DataFrame({"name": names, "type": ["?"] * len(names),
                             "measured_ms": [1.0] * len(names),
                             "flops": [0 if n == "act" else 100 * (i + 1) for i, n in enumerate(names)],
                             "bytes_moved": [1000] * len(names)})
    result = explain_frames(measured, prediction, top=3)
    s = result.summary
    assert s["zero_flops_time_share"] == pytest.approx(1 / len(names))  # one of n equal layers has no FLOPs
    assert s["flops_r2"] == pytest.approx(0.0, abs=1e-9) or math.isnan(s["flops_r2"])  # constant time: nothing to explain
    assert result.disagreements["name"].iloc[0] == "act"  # zero FLOPs, nonzero time: the largest gap
    assert result.layers["time_share"].sum() == pytest.approx(1.0)


def test_api_predict_and_compare_ratio() -> None:
    """cspcost.predict mirrors analyze --predict; compare_predicted's ratio is the ratio of the two."""
    import cspcost
    from cspcost.latency.engine import compare_predicted

    machine = _machine()
    a = cspcost.predict(_Block(), machine, input_size=(8, 16, 16))
    b = cspcost.predict(nn.Sequential(nn.Conv2d(8, 16, 3, padding=1)), machine, input_size=(8, 16, 16))
    assert a.predicted_ms == pytest.approx(predict(_Block(), machine, (8, 16, 16)).predicted_ms)
    comparison = cspcost.compare([_Block(), nn.Sequential(nn.Conv2d(8, 16, 3, padding=1))], (8, 16, 16))
    table = compare_predicted(comparison, [_Block(), nn.Sequential(nn.Conv2d(8, 16, 3, padding=1))], machine,
                              (8, 16, 16)).table
    assert table["predicted_ratio"].iloc[1] == pytest.approx(b.predicted_ms / a.predicted_ms)
    assert table["flops_ratio"].iloc[1] == pytest.approx(table["flops"].iloc[1] / table["flops"].iloc[0])


def test_unwritable_machine_cache_warns_and_keeps_the_calibration(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: a calibration made while the cache folder cannot be written (a path under a regular
    file, so root too) is returned with one warning, and said to be uncached."""
    from cspcost.cache import CacheWarning
    from cspcost.latency import engine

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CSPCOST_CACHE_DIR", str(blocker / "sub"))
    profile = _machine()
    monkeypatch.setattr(engine, "calibrate", lambda *a, **k: profile)
    with pytest.warns(CacheWarning, match=r"cannot write the machine file cache .*a-file/sub") as record:
        got, notes = engine.machine_for(None, "eager", 1)
    assert got is profile and len(record) == 1 and notes[-1].endswith("(not cached)")


def test_cached_calibration_of_another_method_is_recalibrated(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached machine file made by other latency-model code (its ``method`` digest differs) is
    not reused: the machine is calibrated again, and said to be; one of this code is reused."""
    from dataclasses import replace

    from cspcost.latency import engine
    from cspcost.latency.calibrate import method_digest
    from cspcost.latency.machine import cache_path

    monkeypatch.setenv("CSPCOST_CACHE_DIR", str(tmp_path))
    stale = replace(_machine(), stamp={"torch": torch.__version__, "method": "0ld0ld0ld0ld"})
    save(stale, cache_path("eager", 1))
    fresh = replace(_machine(), stamp={"torch": torch.__version__, "method": method_digest()})
    monkeypatch.setattr(engine, "calibrate", lambda *a, **k: fresh)
    got, notes = engine.machine_for(None, "eager", 1)
    assert got.stamp["method"] == method_digest() and "recalibrated" in notes[0]
    again, notes = engine.machine_for(None, "eager", 1)
    assert again == fresh and notes == []


def test_given_machine_file_of_another_method_is_warned_about() -> None:
    """A file the user names is used, with a warning naming both digests."""
    from cspcost.latency.calibrate import method_digest

    old = MachineProfile("calibrated", "eager", 1, "cpu", {"method": "0ld0ld0ld0ld"}, {}, 0.0, 0.0, 1.0, 1.0)
    (line,) = check_fits(old, "eager", 1, {"method": method_digest()})
    assert "another version of cspcost's latency model (method 0ld0ld0ld0ld" in line


# --- the validation benchmark's arithmetic --------------------------------------------------------


def _benchmark_script():  # noqa: ANN202 - a module loaded from a path
    """benchmarks/predict_vs_measure.py as a module."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "predict_vs_measure.py"
    spec = importlib.util.spec_from_file_location("predict_vs_measure", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_benchmark_rounds_and_pair_ratios_by_hand() -> None:
    """A model's time is the median of its round medians; a pair's measured ratio the median of
    its per-round ratios, with their range; the error is predicted / measured - 1."""
    from argparse import Namespace

    script = _benchmark_script()
    args = Namespace(threads=1, clock="thread")
    base = {"model": "resnet10", "gflops": 2.0, "predicted_ms": 20.0}
    csp = {"model": "cspresnet10", "gflops": 1.6, "predicted_ms": 18.0}
    rounds_base = [{"wall": [0.021, 0.022, 0.020], "cpu": [0.020, 0.021, 0.019], "cpu_share": 1.0},
                   {"wall": [0.025], "cpu": [0.024], "cpu_share": 0.9},
                   {"wall": [0.023], "cpu": [0.022], "cpu_share": 1.0}]
    rounds_csp = [{"wall": [0.019], "cpu": [0.018], "cpu_share": 1.0},
                  {"wall": [0.022], "cpu": [0.021], "cpu_share": 1.0},
                  {"wall": [0.020], "cpu": [0.019], "cpu_share": 1.0}]
    script._measured(base, rounds_base, args)
    script._measured(csp, rounds_csp, args)
    assert base["round_ms"] == pytest.approx([20.0, 24.0, 22.0]) and base["measured_ms"] == pytest.approx(22.0)
    assert base["error"] == pytest.approx(20 / 22 - 1) and base["cpu_share"] == 1.0
    (pair,) = [p for p in script._pairs([base, csp], args) if p["model"] == "cspresnet10"]
    ratios = sorted([18 / 20, 21 / 24, 19 / 22])  # 0.9, 0.875, 0.8636
    assert pair["measured_ratio"] == pytest.approx(ratios[1])
    assert pair["measured_ratio_range"] == pytest.approx([ratios[0], ratios[-1]])
    assert pair["predicted_ratio"] == pytest.approx(0.9) and pair["flops_ratio"] == pytest.approx(0.8)
    assert pair["ratio_error"] == pytest.approx(0.9 / ratios[1] - 1)


def test_node_timed_runner_recovers_the_timed_runs_from_running_means() -> None:
    """OpenVINO's counters are running means since the first inference: after 2 warm-up runs of
    10 us and 4 timed runs of 4 us, the op's time is (6 x 6 us - 2 x 10 us) / 4 = 4 us. Reorders
    and the graph's inputs are left out, and so is a node that did not run."""
    from datetime import timedelta
    from types import SimpleNamespace

    from cspcost.latency.runtimes import NodeTimedRunner

    class Request:
        """Fake: a conv of the given times, a reorder of 3 us each run, an input that never runs."""

        def __init__(self, times_us: list[float]) -> None:
            self.times, self.done = times_us, 0

        def infer(self, share_outputs: bool = False) -> None:
            self.done += 1

        @property
        def profiling_info(self) -> list[SimpleNamespace]:
            mean = sum(self.times[:self.done]) / self.done
            return [SimpleNamespace(node_type="Convolution", status="Status.EXECUTED", real_time=timedelta(microseconds=mean)),
                    SimpleNamespace(node_type="Reorder", status="Status.EXECUTED", real_time=timedelta(microseconds=3)),
                    SimpleNamespace(node_type="Parameter", status="Status.NOT_RUN", real_time=timedelta(0))]

    run = NodeTimedRunner(Request([10, 10, 4, 4, 4, 4]))
    run(), run()
    run.mark()
    for _ in range(4):
        run()
    assert run.node_seconds() == pytest.approx(4e-6)


def test_benchmark_families_keep_table5_pairs_together() -> None:
    """Pairs sharing a model join one family (PeleeNet-YOLO, PRN and the three EFM/GFM variants);
    every other model is alone; the order follows the model list."""
    script = _benchmark_script()
    models = ["resnet10", "timm:resnet18", "peleenet_yolo", "cspresnet10", "peleenet_prn", "csppeleenet_efm",
              "csppeleenet_gfm"]
    assert script._families(models) == [["resnet10", "cspresnet10"], ["timm:resnet18"],
                                        ["peleenet_yolo", "peleenet_prn", "csppeleenet_efm", "csppeleenet_gfm"]]


def test_a_class_with_few_points_fits_its_fixed_cost_and_first_feature_only() -> None:
    """Three points for a nine-feature class (the quick grid): only the overhead and the first
    feature get a cost, so no term the points barely reach can take the whole time."""
    from cspcost.latency.calibrate import Sample, _fit_class
    from cspcost.latency.opclass import Work

    names = CLASSES["convkxk"].feature_names
    rows = []
    for flops in (1e6, 1e7, 1e8):
        features = [1.0, flops] + [flops * 3.0] * (len(names) - 2)
        rows.append(Sample(features, 5e-6 + 2e-11 * flops, Work(flops, 1e5)))
    fitted = _fit_class("convkxk", rows)
    assert fitted.coef[:2] == pytest.approx([5e-6, 2e-11], rel=1e-6)
    assert fitted.coef[2:] == [0.0] * (len(names) - 2)


def test_stride_is_read_from_the_arguments_not_the_shapes() -> None:
    """An unpadded 7x7 conv takes a 10-wide map to 4 at stride 1; MaxPool2d(2, 1) is stride 1."""
    for module, size, category in ((nn.Conv2d(16, 16, 7), (16, 10, 10), "s1"),
                                   (nn.Conv2d(16, 16, 3, 2, 1), (16, 16, 16), "s2"),
                                   (nn.MaxPool2d(2, 1), (8, 2, 2), "aten.max_pool2d w4 s1"),
                                   (nn.AvgPool2d(2), (8, 16, 16), "aten.avg_pool2d w4 s2")):
        measured = measure_rows(module, size)
        op = measured.ops[0]
        assert classify(measured.capture.events[op["index"]], op)[1].category == category


def test_machine_file_names_its_ort_level() -> None:
    """The stamped ORT_ENABLE_EXTENDED reads back as --ort-level extended; unstated is None."""
    from dataclasses import replace

    assert replace(_machine("onnxruntime"), stamp={"graph_optimization": "ORT_ENABLE_EXTENDED"}).ort_level == "extended"
    assert _machine().ort_level is None
