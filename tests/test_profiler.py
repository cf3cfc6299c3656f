"""The profiler: statistics on known samples, the timing loops with a fake clock, the result's
structure and units, per-layer names and sums, the roofline join, and bad input. No test asserts
a speed: real runs use tiny models and few repeats."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
from torch import nn

import cspcost
from cspcost.profiling import timing
from cspcost.errors import DeviceError, OutOfMemoryError, UnsupportedDtypeError, UsageError
from cspcost.profiling.result import at_depth, derive, join_layers, rank_correlation
from cspcost.profiling.layers import LayerTimes
from cspcost.profiling.peaks import DevicePeaks
from cspcost.profiling.run import largest_batch, profile
from cspcost.profiling.timing import spearman, sample_stats, time_budget, time_calls
from nets import MetaHostile, MixNet

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Ticking(nn.Module):
    """A model whose forward advances a fake clock by the next of the given durations (ms)."""

    def __init__(self, clock: FakeClock, durations_ms: list[float]) -> None:
        super().__init__()
        self.clock, self.durations = clock, list(durations_ms)
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.clock.now += self.durations.pop(0) / 1e3
        return self.conv(x)


class ThreeConvs(nn.Module):
    """Three heavy convs and little else: per-layer times should add up to the whole."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = (nn.Conv2d(64, 64, 3, padding=1) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(self.b(self.a(x)))


class FailsAbove(nn.Module):
    """Raises the CPU allocator's out-of-memory error for batches above ``limit``."""

    def __init__(self, limit: int, message: str = "DefaultCPUAllocator: can't allocate memory") -> None:
        super().__init__()
        self.limit, self.message = limit, message
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise RuntimeError(self.message)
        return self.conv(x)


def tiny() -> nn.Module:
    """A two-layer net, fast enough for a handful of real runs."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 4))


PEAKS = DevicePeaks("cpu", matmul_gflops=100.0, conv_gflops=50.0, bandwidth_gbs=10.0, stamp={},
                    measured_at="2026-01-01T00:00:00+00:00")


# -- statistics (pure) -----------------------------------------------------------------------

def test_summarize_known_samples() -> None:
    # sorted ms [1, 2, 3, 4, 100]; percentile q at position q/100 * (n - 1) = q/100 * 4
    s = sample_stats([0.001, 0.002, 0.003, 0.004, 0.100])
    assert s.runs == 5
    assert s.median_ms == pytest.approx(3.0)  # position 2
    assert s.p10_ms == pytest.approx(1.4)  # position 0.4: 1 + 0.4 * (2 - 1)
    assert s.p90_ms == pytest.approx(61.6)  # position 3.6: 4 + 0.6 * (100 - 4)
    assert (s.q1_ms, s.q3_ms, s.iqr_ms) == pytest.approx((2.0, 4.0, 2.0))  # positions 1 and 3
    assert s.mean_ms == pytest.approx(22.0)  # 110 / 5
    assert (s.min_ms, s.max_ms) == pytest.approx((1.0, 100.0))


def test_summarize_is_order_free_and_rejects_empty() -> None:
    assert sample_stats([0.004, 0.1, 0.001, 0.003, 0.002]) == sample_stats([0.001, 0.002, 0.003, 0.004, 0.1])
    assert sample_stats([0.005]).p90_ms == pytest.approx(5.0)
    with pytest.raises(ValueError):
        sample_stats([])


def test_spearman() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)  # monotone, not linear
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties take their average rank: a ranks [1, 2.5, 2.5, 4], b ranks [1, 2, 3, 4]; Pearson of the
    # ranks: deviations [-1.5, 0, 0, 1.5] and [-1.5, -.5, .5, 1.5] -> 4.5 / sqrt(4.5 * 5) = 3/sqrt(10)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(3 / math.sqrt(10))
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1], [2]))


# -- the timing loops, with a fake clock ----------------------------------------------------------

def test_time_calls_with_fake_clock_and_sync() -> None:
    clock, durations, syncs = FakeClock(), [0.002, 0.001, 0.005], []

    def work() -> None:
        clock.now += durations.pop(0)

    samples = time_calls(work, 3, sync=lambda: syncs.append(clock.now), clock=clock)
    assert samples == pytest.approx([0.002, 0.001, 0.005])
    assert len(syncs) == 6  # before and after every call: the clock is read on a quiet device


def test_time_budget_blocks_with_fake_clock() -> None:
    clock = FakeClock()

    def work() -> None:
        clock.now += 0.001  # 1 ms per call

    samples, number = time_budget(work, 0.05, clock=clock)
    assert number == 10  # BLOCK_S = 10 ms over 1 ms per call
    assert samples == pytest.approx([0.001] * 5)  # 5 blocks of 10 ms reach the 50 ms budget
    assert timing.BLOCK_S == 0.01


def test_profile_statistics_come_from_the_injected_clock() -> None:
    clock = FakeClock()
    # the first (checking) forward and one more warm-up, then five timed forwards
    model = Ticking(clock, [7.0, 7.0, 1.0, 2.0, 3.0, 4.0, 100.0])
    r = profile(model, (3, 8, 8), warmup=2, repeat=5, clock=clock)
    assert r.samples_ms == pytest.approx([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (r.latency.median_ms, r.latency.p10_ms, r.latency.p90_ms) == pytest.approx((3.0, 1.4, 61.6))
    assert r.fps == pytest.approx(1000 / 3)
    assert not model.durations  # nothing else ran the model


def test_profile_min_time_mode_with_fake_clock() -> None:
    clock = FakeClock()
    # 1/128 s per call (dyadic, so the fake clock's sums are exact)
    model = Ticking(clock, [1000 / 128] * 200)
    r = profile(model, (3, 8, 8), warmup=1, min_time=3 / 32, clock=clock)
    # calibration: 1 call of 7.8 ms < 10 ms -> 2 calls (15.6 ms); blocks of 2 until 93.75 ms: 6
    assert r.environment["calls_per_run"] == 2
    assert r.latency.runs == 6 and r.environment["iterations"] == 12
    assert r.latency.median_ms == pytest.approx(1000 / 128)


# -- real runs on tiny models ------------------------------------------------------------------

def test_profile_structure_and_units() -> None:
    r = profile(tiny(), (3, 16, 16), batch=2, warmup=1, repeat=3, threads=1)
    d = json.loads(r.to_json())
    assert set(d) == {"model", "input_shape", "batch", "latency", "throughput", "environment",
                      "warnings", "processes", "samples_ms", "per_layer", "peaks", "layers",
                      "runtime", "mapped_time_share", "unmapped_ms", "fused_away"}
    assert d["input_shape"] == [[2, 3, 16, 16]] and d["batch"] == 2
    assert set(d["latency"]) == {"runs", "median_ms", "p10_ms", "p90_ms", "q1_ms", "q3_ms", "iqr_ms",
                                 "mean_ms", "min_ms", "max_ms", "std_ms", "cv"}
    lat = r.latency
    assert lat.runs == 3 == len(r.samples_ms)
    assert 0 < lat.min_ms <= lat.p10_ms <= lat.median_ms <= lat.p90_ms <= lat.max_ms
    assert r.fps == pytest.approx(1000 / lat.median_ms)
    assert r.images_per_s == pytest.approx(2 * r.fps)
    env = r.environment
    for key in ("device", "device_name", "cpu_model", "torch", "threads", "dtype", "batch", "input",
                "channels_last", "warmup", "iterations", "cpu_share", "load_avg_1min"):
        assert key in env
    assert (env["device"], env["threads"], env["dtype"], env["input"]) == ("cpu", 1, "float32", "3x16x16")
    assert d["per_layer"] is None and d["layers"] is None and r.layers is None


def test_profile_restores_threads_and_leaves_the_callers_model_alone() -> None:
    model = tiny()
    before = torch.get_num_threads()
    r = profile(model, (3, 16, 16), warmup=1, repeat=2, threads=1, dtype="bfloat16", channels_last=True)
    assert torch.get_num_threads() == before
    assert r.environment["dtype"] == "bfloat16" and r.environment["channels_last"] is True
    assert all(p.dtype == torch.float32 for p in model.parameters())  # profiled a copy
    assert model.training  # never switched to eval
    profile(model, (3, 16, 16), warmup=1, repeat=2)  # no copy needed: run in place, flags restored
    assert model.training and all(m.training for m in model.modules())


def test_zoo_model_by_name() -> None:
    r = profile("tinycsp", warmup=1, repeat=2, threads=1)
    assert r.model == "tinycsp" and r.input_shape == [(1, 3, 64, 64)]


def test_per_layer_names_are_the_walkers() -> None:
    r = profile(MixNet(), (3, 32, 32), warmup=1, repeat=2, threads=1, per_layer=True, peaks=PEAKS)
    walker = cspcost.analyze(MixNet(), (3, 32, 32)).layers
    assert list(r.layers["name"]) == list(walker["name"])  # same rows, same order
    assert "(root)" in set(r.layers["name"]) and "se" in set(r.layers["name"])  # own ops rows
    assert r.layers["flops"].sum() == walker["flops"].sum()
    ran = r.layers[r.layers["ops"] > 0]
    assert (ran["measured_ms"] > 0).all()
    assert r.layers["time_share"].sum() == pytest.approx(1.0)
    assert set(r.layers["bound"]) <= {"compute", "memory", "none"}
    summary = r.layer_summary
    assert summary["layer_runs"] == 2
    assert summary["layer_sum_ratio"] == pytest.approx(summary["layer_sum_ms"] / summary["reference_ms"])
    assert summary["layer_medians_sum_ms"] == pytest.approx(r.layers["measured_ms"].sum())
    assert -1 <= summary["spearman_predicted_vs_measured"] <= 1
    assert json.loads(r.to_json())["layers"][0]["name"] == walker["name"][0]


def test_per_layer_sum_is_close_to_end_to_end() -> None:
    # Three heavy convs (2*64*64*9*64*64 = 302 MFLOP each): per-layer times are their kernels'
    # times. How close their sum comes to the plain forward is a timing question (benchmarks/
    # measure it); a loaded 2-core machine has put it anywhere from 0.63 to 1.45. The test holds
    # only what no load can move: each layer timed, and the ratio a finite, positive number of the
    # right order (a per-layer timer that missed a layer or timed the whole model thrice fails).
    r = profile(ThreeConvs(), (64, 64, 64), warmup=2, repeat=5, threads=1, per_layer=True, peaks=False)
    assert list(r.layers["name"]) == ["a", "b", "c"]
    assert (r.layers["measured_ms"] > 0).all()
    assert 0.2 <= r.layer_summary["layer_sum_ratio"] <= 5
    assert r.layers["compute_ms"].isna().all() and r.peaks is None  # no roofline without peaks


def test_per_layer_on_a_model_meta_cannot_run() -> None:
    r = profile(MetaHostile(), (3, 16, 16), warmup=1, repeat=2, per_layer=True, peaks=False)
    assert list(r.layers["name"]) == ["conv", "gate"]  # the walker ran on cpu instead


def test_depth_aggregation_sums_leaf_rows() -> None:
    r = profile(MixNet(), (3, 32, 32), warmup=1, repeat=2, threads=1, per_layer=True, peaks=PEAKS)
    top = r.layers_at(1)
    assert "stem" in set(top["name"]) and "stem.0" not in set(top["name"])
    for col in ("measured_ms", "flops", "bytes_moved", "predicted_ms"):
        assert top[col].sum() == pytest.approx(r.layers[col].sum())
    assert top.set_index("name").loc["stem", "type"] == "Sequential"


# -- the roofline join on hand-computed numbers --------------------------------------------------

def test_roofline_join_by_hand() -> None:
    walker = pd.DataFrame({
        "name": ["conv", "add", "flat"], "type": ["Conv2d", "Block", "Flatten"], "ops": [1, 1, 1],
        "flops": [2_000_000_000, 1_000_000, 0], "bytes_read": [60_000_000, 8_000_000, 0],
        "bytes_written": [40_000_000, 4_000_000, 0]})
    # conv: 40 ms measured; add: 2 ms; flat: 0 ms
    times = LayerTimes({"conv": [0.030, 0.040, 0.050], "add": [0.002, 0.002, 0.003], "flat": [0, 0, 0]},
                       [0.05, 0.05, 0.05], {"conv": 1, "add": 1, "flat": 1})
    raw = join_layers(walker, times, PEAKS)  # peak_gflops = max(100, 50) = 100, bandwidth 10 GB/s
    f = derive(raw).set_index("name")
    # conv: compute 2e9 / 100e9 s = 20 ms; memory 1e8 / 10e9 s = 10 ms -> 20 ms, compute-bound
    assert f.loc["conv", ["compute_ms", "memory_ms", "predicted_ms"]].tolist() == pytest.approx([20, 10, 20])
    assert f.loc["conv", "bound"] == "compute"
    assert f.loc["conv", "achieved_gflops"] == pytest.approx(50.0)  # 2e9 flops in 40 ms
    assert f.loc["conv", "achieved_gbs"] == pytest.approx(2.5)  # 1e8 bytes in 40 ms
    assert f.loc["conv", "intensity"] == pytest.approx(20.0)  # 2e9 / 1e8
    assert f.loc["conv", "roofline_efficiency"] == pytest.approx(0.5)  # 20 / 40
    # add: compute 1e6 / 1e11 s = 0.01 ms; memory 1.2e7 / 1e10 s = 1.2 ms -> memory-bound
    assert f.loc["add", "predicted_ms"] == pytest.approx(1.2) and f.loc["add", "bound"] == "memory"
    assert f.loc["flat", "bound"] == "none" and f.loc["flat", "achieved_gflops"] == 0
    # shares: time 40/42 and 2/42; flops 2e9/2.001e9 and 1e6/2.001e9
    assert f.loc["add", "time_share"] == pytest.approx(2 / 42)
    assert f.loc["add", "share_gap"] == pytest.approx(2 / 42 - 1e6 / 2.001e9)
    # rank correlation over layers that ran: conv > add in both orders -> 1
    assert rank_correlation(raw) == pytest.approx(1.0)


def test_at_depth_keeps_root_and_groups_by_prefix() -> None:
    raw = pd.DataFrame({"name": ["(root)", "s.0.conv", "s.0.bn", "s.1.conv"], "ops": 1,
                        "measured_ms": [1.0, 2.0, 3.0, 4.0], "flops": [0, 10, 20, 30],
                        "bytes_moved": 1, "compute_ms": 0.0, "memory_ms": 0.0, "predicted_ms": 0.0})
    grouped = at_depth(raw, 2, {"s.0": "Block", "s.1": "Block", "(root)": "Net"})
    assert grouped["name"].tolist() == ["(root)", "s.0", "s.1"]
    assert grouped["measured_ms"].tolist() == [1.0, 5.0, 4.0]
    assert grouped["type"].tolist() == ["Net", "Block", "Block"]


# -- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{"repeat": 0}, {"repeat": -3}, {"warmup": -1},
                                    {"batch": 0}, {"min_time": 0.0}, {"min_time": -1.0}, {"depth": 0}])
def test_bad_counts_raise_usage_error(kwargs: dict) -> None:
    with pytest.raises(UsageError, match="must be"):
        profile(tiny(), (3, 8, 8), **kwargs)


def test_bad_dtype_and_size() -> None:
    with pytest.raises(UsageError, match="unsupported dtype 'int8'"):
        profile(tiny(), (3, 8, 8), dtype="int8")
    with pytest.raises(UsageError, match="malformed input size"):
        profile(tiny(), (3, 0, 8))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_without_a_gpu() -> None:
    with pytest.raises(DeviceError, match="CUDA was asked for but is not available"):
        profile(tiny(), (3, 8, 8), device="cuda")


def test_meta_device_cannot_be_timed() -> None:
    with pytest.raises(DeviceError, match="cannot time on device 'meta'"):
        profile(tiny(), (3, 8, 8), device="meta")
    with torch.device("meta"):
        model = tiny()
    with pytest.raises(UsageError, match="real weights"):
        profile(model, (3, 8, 8))


def test_out_of_memory_reports_the_largest_batch_that_fitted() -> None:
    with pytest.raises(OutOfMemoryError, match="out of memory at batch 64 on cpu; the largest batch "
                                               "that fitted was 8") as info:
        profile(FailsAbove(8), (3, 8, 8), batch=64, repeat=1, warmup=1)
    assert info.value.largest_batch == 8 and info.value.exit_code == 2
    with pytest.raises(OutOfMemoryError, match="not even batch 1") as info:
        profile(FailsAbove(0), (3, 8, 8), batch=4, repeat=1, warmup=1)
    assert info.value.largest_batch is None


def test_out_of_memory_allocating_the_input() -> None:
    # One 1 x 2^19 x 2^19 float32 image is 1.1 TB (batch 4: 2^40 elements, cspcost's input limit):
    # the allocator refuses at once, at every batch the halving search tries (2, then 1), so nothing
    # large is ever touched.
    with pytest.raises(OutOfMemoryError, match="out of memory at batch 4 on cpu; not even batch 1"):
        profile(tiny(), (1, 2**19, 2**19), batch=4, repeat=1, warmup=1)


def test_largest_batch_halves() -> None:
    tried = []
    assert largest_batch(lambda b: tried.append(b) or b <= 5, 48) == 3
    assert tried == [24, 12, 6, 3]
    assert largest_batch(lambda b: False, 1) is None


def test_dtype_without_a_kernel_is_a_device_error() -> None:
    model = FailsAbove(0, "\"slow_conv2d_cpu\" not implemented for 'Half'")
    with pytest.raises(UnsupportedDtypeError, match="float16 is not supported on cpu"):
        profile(model, (3, 8, 8), dtype="float16")


def test_a_failing_forward_is_one_line() -> None:
    model = FailsAbove(0, "shape mismatch\nsecond line")
    with pytest.raises(UsageError, match="forward failed on cpu: RuntimeError: shape mismatch$"):
        profile(model, (3, 8, 8))


def test_lazy_exports() -> None:
    assert cspcost.profile is profile
    assert cspcost.DevicePeaks is DevicePeaks
    assert cspcost.measure_peaks.__module__ == "cspcost.profiling.peaks"


# -- CUDA (skipped without a GPU) -----------------------------------------------------------------

@CUDA
def test_cuda_profile_and_per_layer() -> None:
    r = profile(MixNet(), (3, 32, 32), device="cuda", warmup=2, repeat=3, per_layer=True, peaks=False)
    assert r.environment["device"].startswith("cuda") and r.latency.runs == 3
    walker = cspcost.analyze(MixNet(), (3, 32, 32)).layers
    assert list(r.layers["name"]) == list(walker["name"])
    assert r.layer_summary["layer_sum_ms"] > 0


@CUDA
def test_cuda_float16_and_channels_last() -> None:
    r = profile(tiny(), (3, 16, 16), device="cuda", dtype="float16", channels_last=True, warmup=1, repeat=2)
    assert r.environment["dtype"] == "float16"


@CUDA
def test_cuda_out_of_memory_is_reported() -> None:
    model = nn.Conv2d(3, 64, 3)
    with pytest.raises(OutOfMemoryError, match="out of memory at batch"):
        profile(model, (3, 1024, 1024), batch=2**18, device="cuda", warmup=1, repeat=1)  # 3.3 TB, under the 2^40 limit


def test_steal_share_from_proc_stat_ticks() -> None:
    """Steal share = steal ticks / all ticks between two readings: (1,100)->(11,300) is 10/200."""
    from cspcost.profiling.noise import steal_share as _steal_share

    assert _steal_share((100, 1), (300, 11)) == 10 / 200
    assert math.isnan(_steal_share(None, (300, 11))) and math.isnan(_steal_share((5, 0), (5, 0)))
