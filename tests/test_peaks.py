"""Device peaks: the micro-benchmarks' arithmetic with a fake clock, the JSON cache and its stamp,
and the roofline bound. Real measurements use shrunken problem sizes (no speed is asserted)."""
from __future__ import annotations

import json

import pytest
import torch

from cspcost.profiling import peaks as peaks_mod
from cspcost.errors import DeviceError
from cspcost.profiling.peaks import DevicePeaks, bound, cache_dir, cache_path, measure_peaks, roofline_ms

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SMALL = {"cpu": {"matmul_n": 64, "conv": (1, 8, 16), "copy_mib": 1},
         "cuda": {"matmul_n": 256, "conv": (1, 16, 32), "copy_mib": 8}}


@pytest.fixture(autouse=True)
def small_and_private(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    """Tiny benchmark sizes, a short budget and a private cache directory."""
    monkeypatch.setattr(peaks_mod, "SIZES", SMALL)
    monkeypatch.setattr(peaks_mod, "BUDGET_S", 0.01)
    monkeypatch.setenv("CSPCOST_CACHE_DIR", str(tmp_path))


class StepClock:
    """A fake clock that advances 1 ms at every reading pair (each timed call lasts 1 ms)."""

    def __init__(self) -> None:
        self.now, self.reads = 0.0, 0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads % 2 == 0:
            self.now += 0.001
        return self.now


def test_peaks_arithmetic_with_a_fake_clock() -> None:
    p = measure_peaks("cpu", threads=1, clock=StepClock(), cache=False)
    assert p.matmul_gflops == pytest.approx(2 * 64**3 / 1e-3 / 1e9)  # 2 n^3 flops in 1 ms
    assert p.conv_gflops == pytest.approx(2 * 8 * 8 * 9 * 16 * 16 / 1e-3 / 1e9)  # 2 * MACs in 1 ms
    assert p.bandwidth_gbs == pytest.approx(2 * 2**20 / 1e-3 / 1e9)  # 1 MiB read + written in 1 ms
    assert p.peak_gflops == max(p.matmul_gflops, p.conv_gflops)
    assert p.ridge_intensity == pytest.approx(p.peak_gflops / p.bandwidth_gbs)


def test_cache_is_written_reused_and_refreshed(tmp_path) -> None:  # noqa: ANN001
    calls = []
    first = measure_peaks("cpu", threads=1, progress=lambda *a: calls.append(a))
    assert calls[-1] == ("peaks", 3, 3)
    path = cache_path(torch.device("cpu"), torch.float32, 1)
    assert path.parent == tmp_path == cache_dir() and path.name == "peaks-cpu-float32-1t.json"
    data = json.loads(path.read_text())
    assert data["stamp"]["threads"] == 1 and data["stamp"]["dtype"] == "float32"
    assert DevicePeaks.from_dict(data) == first
    assert measure_peaks("cpu", threads=1, clock=StepClock()) == first  # cached: clock never used
    assert measure_peaks("cpu", threads=1, clock=StepClock(), refresh=True) != first


def test_a_cache_from_another_environment_is_ignored() -> None:
    first = measure_peaks("cpu", threads=1)
    path = cache_path(torch.device("cpu"), torch.float32, 1)
    data = json.loads(path.read_text())
    data["stamp"]["torch"] = "0.0.1"  # measured under another torch
    path.write_text(json.dumps(data))
    assert measure_peaks("cpu", threads=1, clock=StepClock()).measured_at >= first.measured_at
    assert json.loads(path.read_text())["stamp"]["torch"] == torch.__version__
    path.write_text("{not json")
    assert measure_peaks("cpu", threads=1).stamp["torch"] == torch.__version__


def test_roofline_by_hand() -> None:
    # 1 GFLOP at 100 GFLOP/s = 10 ms; 50 MB at 10 GB/s = 5 ms -> 10 ms, compute-bound
    assert roofline_ms(1e9, 5e7, 100.0, 10.0) == pytest.approx((10.0, 5.0, 10.0))
    assert bound(10.0, 5.0) == "compute" and bound(0.01, 1.2) == "memory" and bound(0, 0) == "none"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_peaks_without_a_gpu() -> None:
    with pytest.raises(DeviceError):
        measure_peaks("cuda")


@CUDA
def test_cuda_peaks() -> None:
    p = measure_peaks("cuda", cache=False)
    assert p.device.startswith("cuda") and p.bandwidth_gbs > 0 and p.stamp["device_name"]


def test_unwritable_cache_warns_and_keeps_the_measurement(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Issue 23: a cache folder under a regular file cannot be made (as root too): one warning, the
    peaks still come back."""
    from cspcost.cache import CacheWarning

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CSPCOST_CACHE_DIR", str(blocker / "sub"))
    with pytest.warns(CacheWarning, match=r"cannot write the device peaks cache .*a-file/sub") as record:
        p = measure_peaks("cpu", threads=1, clock=StepClock())
    assert len(record) == 1 and p.matmul_gflops == pytest.approx(2 * 64**3 / 1e-3 / 1e9)
