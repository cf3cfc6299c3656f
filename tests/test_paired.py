"""Paired latency, its interval, noise warnings, merged processes and the CUDA timing path.

Every timing here comes from a fake clock or fake CUDA events, so the numbers are exact and
nothing depends on this machine's speed; the few real runs use tiny models and few rounds and
assert only structure.
"""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from cspcost.errors import UsageError
from cspcost.profiling import intervals, noise, processes
from cspcost.profiling.environment import cuda_settings, device_memory
from cspcost.profiling.intervals import (
    binomial_cdf,
    interval_rank,
    median_interval,
    paired_interval,
    sign_test_p,
)
from cspcost.profiling.paired import _orders, build_result, paired
from cspcost.profiling.spec import ProfileSpec
from cspcost.profiling.timing import EventTimer, HostTimer, sample_stats, time_calls


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Machine:
    """A fake machine whose speed drifts: the n-th forward of any model runs ``slowdown(n)`` slower."""

    def __init__(self, slowdown: list[float]) -> None:
        self.clock, self.slowdown, self.calls = FakeClock(), slowdown, 0

    def tick(self, ms: float) -> None:
        self.clock.now += ms * self.slowdown[min(self.calls, len(self.slowdown) - 1)] / 1e3
        self.calls += 1


class Costs(nn.Module):
    """A model that costs ``ms`` of the machine's time per forward (times its current slowdown)."""

    def __init__(self, machine: Machine, ms: float) -> None:
        super().__init__()
        self.machine, self.ms = machine, ms
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.machine.tick(self.ms)
        return self.conv(x)


# -- the interval (pure) ------------------------------------------------------------------------

def test_binomial_and_rank_by_hand() -> None:
    # P(B <= 0) for n = 6 is 1/64; [x(1), x(6)] covers the median with 1 - 2/64 = 0.969 >= 0.95
    assert binomial_cdf(0, 6) == 1 / 64 and interval_rank(6) == 1
    assert interval_rank(5) == 0  # 1 - 2/32 = 0.9375 < 0.95: five samples give no 95% interval
    # n = 30: P(B <= 9) = 0.0214 (coverage 0.957), P(B <= 10) = 0.0494 (0.901): k = 10
    assert binomial_cdf(9, 30) == pytest.approx(0.021387, abs=1e-6) and interval_rank(30) == 10
    assert binomial_cdf(-1, 4) == 0.0 and binomial_cdf(4, 4) == 1.0


def test_median_interval_is_the_kth_order_statistics() -> None:
    xs = [float(v) for v in range(30, 0, -1)]  # 30 .. 1, unsorted on purpose
    ci = median_interval(xs)
    assert (ci.low, ci.high, ci.rank) == (10.0, 21.0, 10)  # x(10) and x(30 + 1 - 10) = x(21)
    assert ci.median == 15.5 and ci.coverage == pytest.approx(1 - 2 * binomial_cdf(9, 30))
    assert ci.excludes(9.9) and not ci.excludes(10.0) and not ci.excludes(21.0)
    with pytest.raises(ValueError, match="at least 6"):
        median_interval([1.0] * 5)


def test_sign_test_by_hand() -> None:
    # 6 of 6 below 1: p = 2 * P(B <= 0) = 2/64; ties with 1 are dropped
    assert sign_test_p([0.9] * 6 + [1.0]) == pytest.approx(2 / 64)
    assert sign_test_p([0.9, 1.1] * 3) == 1.0 and sign_test_p([1.0] * 4) == 1.0


def test_paired_interval_widens_with_drift_between_blocks() -> None:
    # 30 ratios that drift: five rounds each of 0.80, 0.82, ..., 0.90 (blocks in time order)
    drifting = [0.80 + 0.02 * b for b in range(6) for _ in range(5)]
    rounds_only = median_interval(drifting)  # rounds as independent: x(10) = 0.82, x(21) = 0.88
    assert (rounds_only.low, rounds_only.high) == pytest.approx((0.82, 0.88))
    hull = paired_interval([drifting])  # 6 block medians 0.80..0.90: [min, max] at 96.9%
    assert (hull.low, hull.high) == pytest.approx((0.80, 0.90))
    assert hull.median == pytest.approx(0.85) and hull.coverage == pytest.approx(rounds_only.coverage)
    # the same levels in round-robin order: each block holds five consecutive levels, block
    # medians 0.84, 0.84, 0.84, 0.86, 0.86, 0.86 lie inside the rounds' interval, which stands
    mixed = [0.80 + 0.02 * (i % 6) for i in range(30)]
    assert (paired_interval([mixed]).low, paired_interval([mixed]).high) == pytest.approx((0.82, 0.88))


def test_paired_interval_pools_the_blocks_of_several_runs() -> None:
    # two processes, each steady, but at 0.80 and 0.90: 12 block medians, k = 3 -> [0.80, 0.90]
    ci = paired_interval([[0.80] * 12, [0.90] * 12])
    assert (ci.low, ci.high) == pytest.approx((0.80, 0.90))
    assert intervals.interval_rank(12) == 3


# -- the paired measurement, with a fake clock -------------------------------------------------

def test_drift_cancels_in_the_paired_ratio() -> None:
    # A costs 10 ms, B 8 ms, but the machine slows down by 1% per forward: each model's own
    # latency spreads widely, while every round's ratio is 8/10 up to the 1% step between the two.
    machine = Machine([1.01 ** n for n in range(200)])
    a, b = Costs(machine, 10.0), Costs(machine, 8.0)
    r = paired([a, b], (3, 4, 4), warmup=2, rounds=12, shuffle=False, clock=machine.clock)
    assert r.rounds == 12 and r.orders == [[0, 1]] * 12
    first, second = r.models
    assert first.latency.max_ms / first.latency.min_ms == pytest.approx(1.01 ** 22)  # 12 rounds apart
    # B runs right after A in every round: ratio = 8 * 1.01 / 10 exactly
    assert second.ratios == pytest.approx([0.808] * 12)
    assert (second.ratio.median, second.ratio.low, second.ratio.high) == pytest.approx((0.808,) * 3)
    assert second.significant and second.p_value == pytest.approx(2 / 2**12)
    assert first.ratio.median == 1.0 and not first.significant
    assert machine.calls == 2 * (1 + 2 + 12)  # one checking forward, 2 warm-up and 12 timed rounds each


def test_the_order_is_shuffled_with_a_fixed_seed() -> None:
    orders = _orders(3, 8, seed=0, shuffle=True)
    assert orders == _orders(3, 8, seed=0, shuffle=True)  # the same every invocation
    assert all(sorted(o) == [0, 1, 2] for o in orders) and len({tuple(o) for o in orders}) > 1
    assert _orders(2, 3, 0, shuffle=False) == [[0, 1]] * 3


def test_paired_rows_and_json() -> None:
    machine = Machine([1.0])
    r = paired([Costs(machine, 4.0), Costs(machine, 5.0)], (3, 4, 4), warmup=1, rounds=6, clock=machine.clock)
    row = r.models[1].row()
    assert row["latency_ms"] == pytest.approx(5.0) and row["latency_ratio"] == pytest.approx(1.25)
    assert row["latency_ratio_ci95"] == pytest.approx([1.25, 1.25]) and row["latency_significant"]
    data = json.loads(json.dumps(r.to_dict()))
    assert set(data) == {"method", "runtime", "rounds", "warmup", "processes", "environment", "warnings", "models",
                         "orders"}
    assert data["models"][1]["rounds_per_run"] == [6] and len(data["models"][1]["samples_ms"]) == 6
    assert "order statistics" in data["method"] and data["environment"]["threads"] == 1


def test_paired_rejects_what_cannot_give_an_interval() -> None:
    tiny = nn.Conv2d(3, 2, 1)
    with pytest.raises(UsageError, match="at least two models"):
        paired([tiny], (3, 4, 4))
    with pytest.raises(UsageError, match="rounds must be an integer of at least 6"):
        paired([tiny, tiny], (3, 4, 4), rounds=5)
    with pytest.raises(UsageError, match="not modules"):
        paired([tiny, tiny], (3, 4, 4), processes=2)


def test_paired_real_tiny_models() -> None:
    r = paired(["tinycsp", nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())], (3, 16, 16), warmup=1, rounds=6)
    assert [m.latency.runs for m in r.models] == [6, 6]
    assert all(m.ratio.low <= m.ratio.median <= m.ratio.high for m in r.models)
    assert r.models[0].name == "tinycsp" and r.models[1].input_shape == (1, 3, 16, 16)


# -- merging fresh processes (runner injected: no process is spawned) --------------------------

def _fake_paired_run(scale: float) -> dict:
    """The JSON a worker prints for a 6-round paired run of two models."""
    samples = [[10.0 * scale] * 6, [8.0 * scale * (1.1 if scale > 1 else 1.0)] * 6]
    return {"warmup": 1, "orders": [[0, 1]] * 6,
            "environment": {"load_avg_1min": scale, "cpu_share": 1.0, "cpu_steal_share": 0.0, "threads": 1},
            "models": [{"model": n, "input_shape": [1, 3, 4, 4], "samples_ms": s} for n, s in zip("ab", samples)]}


def test_merge_paired_runs_spans_the_processes() -> None:
    calls = []

    def runner(kind: str, kwargs: dict) -> dict:
        calls.append(kind)
        return _fake_paired_run(1.0 if len(calls) == 1 else 2.0)

    r = processes.paired_processes(ProfileSpec(("a", "b"), repeat=6), 2, runner)
    assert calls == ["paired", "paired"] and r.processes == 2 and r.rounds == 12
    ratio = r.models[1].ratio  # process 1: 0.8 per round; process 2: 0.88
    assert (ratio.low, ratio.high) == pytest.approx((0.8, 0.88))
    assert r.environment["load_avg_1min"] == 2.0 and r.environment["processes"] == 2


def test_merge_profiles_pools_samples_and_warns_on_disagreement() -> None:
    def run(samples: list[float]) -> dict:
        stats = sample_stats([s / 1e3 for s in samples])
        return {"model": "m", "input_shape": [[1, 3, 4, 4]], "batch": 1, "samples_ms": samples,
                "latency": stats.to_dict(), "environment": {"cpu_share": 1.0, "load_avg_1min": 0.5,
                                                             "cpu_steal_share": 0.0, "cpu_count": 2}}
    runs = iter([run([10.0, 10.0, 10.0]), run([12.0, 12.0, 12.0])])
    merged = processes.profile_processes(ProfileSpec(("m",)), 2, lambda kind, payload: next(runs))
    assert merged.latency.runs == 6 and merged.latency.median_ms == pytest.approx(11.0)
    assert [p["median_ms"] for p in merged.process_runs] == pytest.approx([10.0, 12.0])
    assert any("processes disagree" in w and "20%" in w for w in merged.warnings)
    with pytest.raises(UsageError, match="per-layer"):
        processes.profile_processes(ProfileSpec(("m",), per_layer=True), 2)


def test_profile_in_a_fresh_process() -> None:
    """One real worker process of a tiny zoo model (the worker path), merged with itself."""
    data = processes.run_worker("profile", ProfileSpec(("tinycsp",), warmup=1, repeat=2).to_payload())
    merged = processes.merge_profiles([data, data])
    assert data["latency"]["runs"] == 2 and merged.latency.runs == 4 and len(merged.process_runs) == 2



def test_a_failing_worker_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    failed = subprocess.CompletedProcess([], 2, "", "error: unknown model 'nope'; did you mean ...\n")
    monkeypatch.setattr(processes.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(UsageError, match="^a measuring process failed: unknown model 'nope'"):
        processes.run_worker("profile", ProfileSpec(("nope",)).to_payload())


# -- noise warnings ---------------------------------------------------------------------------

def test_warnings_name_the_reason() -> None:
    quiet = {"cpu_share": 0.99, "cpu_steal_share": 0.0, "load_avg_1min": 1.0, "cpu_count": 2,
             "cpu_mhz_start": 2000.0, "cpu_mhz_end": 2010.0}
    assert noise.noise_warnings([10.0] * 20, 0.01, quiet) == []
    busy = {**quiet, "cpu_share": 0.6, "cpu_steal_share": 0.12, "load_avg_1min": 3.5, "cpu_mhz_end": 2400.0}
    found = noise.noise_warnings([10.0] * 10 + [13.0] * 10, 0.15, busy)
    assert found == ["high spread: CV 15% > 10% (run-to-run variation)",
                     "drift: the median moved +30% from the first to the second half of the runs",
                     "CPU steal 12%: the hypervisor ran other guests on these cores",
                     "CPU share 60%: the timed threads waited for their cores",
                     "load average 3.5 on 2 CPUs: other processes compete for the cores",
                     "CPU clock changed from 2000 to 2400 MHz while timing"]
    assert math.isnan(noise.drift([1.0] * 9))  # too few runs to see a drift


def test_stats_cv_by_hand() -> None:
    # ms [2, 4, 6]: mean 4, sample std sqrt(((2-4)^2 + 0 + (6-4)^2) / 2) = 2 -> CV 0.5
    s = sample_stats([0.002, 0.004, 0.006])
    assert s.std_ms == pytest.approx(2.0) and s.cv == pytest.approx(0.5)
    assert math.isnan(sample_stats([0.001]).cv)


def test_profile_reports_cv_and_warnings_from_the_fake_clock() -> None:
    from cspcost.profiling.run import profile

    machine = Machine([1.0] * 3 + [1.0, 3.0] * 20)  # every other forward three times slower
    r = profile(Costs(machine, 2.0), (3, 4, 4), warmup=2, repeat=10, clock=machine.clock)
    assert r.latency.cv == pytest.approx(sample_stats([s / 1e3 for s in r.samples_ms]).cv)
    assert r.latency.cv > noise.CV_MAX and r.warnings[0].startswith("high spread: CV")
    assert json.loads(r.to_json())["latency"]["cv"] == pytest.approx(r.latency.cv)


# -- the CUDA path, with fakes (no GPU needed) -------------------------------------------------

class FakeEvent:
    """A stand-in for torch.cuda.Event: records the order of calls; 'elapsed' ms set by the test."""

    log: list[str] = []
    elapsed_ms = 0.0

    def __init__(self, enable_timing: bool = False) -> None:
        assert enable_timing  # elapsed_time needs timing-enabled events
        self.log.append("new")

    def record(self) -> None:
        self.log.append("record")

    def synchronize(self) -> None:
        self.log.append("synchronize")

    def elapsed_time(self, end: "FakeEvent") -> float:
        self.log.append("elapsed")
        return self.elapsed_ms


def test_event_timer_records_around_the_work_and_waits_for_the_end_event() -> None:
    FakeEvent.log, FakeEvent.elapsed_ms = [], 12.5
    seconds = EventTimer(FakeEvent)(lambda: FakeEvent.log.append("work"))
    assert seconds == pytest.approx(0.0125)  # elapsed_time is in milliseconds
    assert FakeEvent.log == ["new", "new", "record", "work", "record", "synchronize", "elapsed"]
    assert time_calls(lambda: None, 3, timer=EventTimer(FakeEvent)) == pytest.approx([0.0125] * 3)


def test_host_timer_synchronises_before_each_clock_reading() -> None:
    clock, log = FakeClock(), []

    def work() -> None:
        clock.now += 0.003
        log.append("work")

    assert HostTimer(clock, lambda: log.append("sync"))(work) == pytest.approx(0.003)
    assert log == ["sync", "work", "sync"]


def test_default_timer_is_cuda_events_on_cuda() -> None:
    from cspcost.profiling.run import default_timer

    assert isinstance(default_timer(torch.device("cuda")), EventTimer)  # built lazily: no GPU touched
    assert isinstance(default_timer(torch.device("cpu")), HostTimer)


class FakeCudaApi:
    """torch.cuda's allocator statistics, faked."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def synchronize(self, device: torch.device) -> None:
        self.log.append("synchronize")

    def reset_peak_memory_stats(self, device: torch.device) -> None:
        self.log.append("reset")

    def max_memory_allocated(self, device: torch.device) -> int:
        return 3 * 2**20

    def max_memory_reserved(self, device: torch.device) -> int:
        return 4 * 2**20


def test_device_memory_reads_the_allocators_peak() -> None:
    api = FakeCudaApi()
    with device_memory(torch.device("cuda"), api) as memory:
        api.log.append("work")
    assert api.log == ["synchronize", "reset", "work", "synchronize"]
    assert memory == {"cuda_max_allocated_bytes": 3 * 2**20, "cuda_max_reserved_bytes": 4 * 2**20}
    with device_memory(torch.device("cpu"), api) as memory:
        pass
    assert memory == {}


def test_cuda_settings_state_cudnn_and_tf32() -> None:
    class Flags:
        benchmark, deterministic, allow_tf32 = True, False, True

        @staticmethod
        def is_available() -> bool:
            return True

        @staticmethod
        def version() -> int:
            return 90100

    class Backends:
        cudnn = Flags

        class cuda:  # noqa: N801 - mirrors torch.backends.cuda
            class matmul:  # noqa: N801
                allow_tf32 = False

    assert cuda_settings(Backends) == {"cudnn_version": 90100, "cudnn_benchmark": True,
                                       "cudnn_deterministic": False, "cudnn_allow_tf32": True,
                                       "matmul_allow_tf32": False}
    assert set(cuda_settings()) == set(cuda_settings(Backends))  # the real flags have the same keys


def test_build_result_from_raw_seconds() -> None:
    # two runs of 6 rounds: ratios 0.5 in the first, 0.25 in the second; all 12 below 1
    runs = [[[0.002] * 6, [0.001] * 6], [[0.004] * 6, [0.001] * 6]]
    r = build_result(["a", "b"], [(1, 3), (1, 3)], runs, [[0, 1]] * 12, 1, {}, processes=2)
    assert r.models[1].ratios_by_run == [[0.5] * 6, [0.25] * 6]
    assert (r.models[1].ratio.low, r.models[1].ratio.high) == pytest.approx((0.25, 0.5))
    assert r.models[1].p_value == pytest.approx(2 / 2**12) and r.models[0].latency.runs == 12


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the clean skip without a GPU")
def test_cuda_check_script_skips_cleanly_without_a_gpu(monkeypatch, capsys) -> None:  # noqa: ANN001
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "cuda_check.py"
    spec = importlib.util.spec_from_file_location("cuda_check", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr("sys.argv", ["cuda_check.py"])
    assert script.main() == 0
    assert capsys.readouterr().out == "SKIP all: no CUDA GPU (torch.cuda.is_available() is False)\n"
    assert [name for name, _ in script.CHECKS] == ["profile", "dtypes", "per-layer", "compare --profile",
                                                   "device peaks", "OOM report", "cli profile",
                                                   "onnxruntime CUDA provider", "onnxruntime TensorRT provider",
                                                   "torch.compile on CUDA"]
    # a runtime check whose provider is absent is a SKIP of its own, not a FAIL
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(script.Skipped, match="CUDAExecutionProvider not in this onnxruntime build"):
            dict(script.CHECKS)["onnxruntime CUDA provider"]("tinycsp", "cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_paired_and_allocator_peak() -> None:
    from cspcost.profiling.run import profile

    r = paired(["tinycsp", "tinycsp"], device="cuda", warmup=2, rounds=6)
    assert r.environment["device"].startswith("cuda") and "cudnn_benchmark" in r.environment
    p = profile("tinycsp", device="cuda", warmup=2, repeat=3)
    assert p.environment["cuda_max_allocated_bytes"] > 0


def test_profile_takes_its_times_from_an_injected_cuda_timer() -> None:
    """The whole profile path with fake CUDA events: every sample is the events' 12.5 ms."""
    from cspcost.profiling.run import profile

    FakeEvent.log, FakeEvent.elapsed_ms = [], 12.5
    r = profile(nn.Conv2d(3, 2, 1), (3, 4, 4), warmup=2, repeat=4, timer=EventTimer(FakeEvent))
    assert r.samples_ms == pytest.approx([12.5] * 4) and r.latency.cv == 0
    assert FakeEvent.log.count("synchronize") == 1 + 4  # one warm-up forward (the other checks) + 4 timed


def test_per_layer_cuda_stamps_with_fake_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-layer CUDA timing: one event pair per op, read after one synchronisation per run;
    with 1 ms per op, a layer's time is its op count in ms."""
    from cspcost.profiling.layers import time_layers

    FakeEvent.log, FakeEvent.elapsed_ms = [], 1.0
    syncs = []
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: syncs.append(1))
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    with torch.inference_mode():
        times = time_layers(model, [torch.randn(1, 3, 8, 8)], 2, device=torch.device("cuda"), sync=lambda: None)
    for layer, ops in times.op_counts.items():
        assert times.per_run_s[layer] == pytest.approx([ops * 1e-3] * 2)
    assert set(times.op_counts) == {"0", "1"} and len(syncs) == 3  # warm-up run + 2 runs
