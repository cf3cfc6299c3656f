"""Exercise every CUDA feature of cspcost's profiler on a GPU: one PASS/FAIL line per feature.

    python benchmarks/cuda_check.py            # on a machine with a CUDA GPU
    python benchmarks/cuda_check.py --model resnet10 --device cuda:0

Without a GPU it prints one SKIP line and exits 0; a runtime check whose package or provider is
absent (onnxruntime's CUDA or TensorRT provider) prints a SKIP line of its own. Exit 1 if any feature fails. It checks that
each feature runs and returns sane values (positive times, names matching the walker, an
out-of-memory error naming the largest batch that fitted); it asserts no speed.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import traceback
from typing import Callable

Check = Callable[[str, str], str]  # (model, device) -> a one-line detail; raises on failure


def check_profile(model: str, device: str) -> str:
    """Model-level timing by CUDA events, the cuDNN stamp and the allocator's peak."""
    import cspcost

    r = cspcost.profile(model, device=device, warmup=3, repeat=10)
    env = r.environment
    assert r.latency.runs == 10 and r.latency.median_ms > 0, r.latency
    assert env["device"].startswith("cuda") and "cudnn_benchmark" in env, env
    assert env["cuda_max_allocated_bytes"] > 0, env
    return (f"median {r.latency.median_ms:.3f} ms, CV {r.latency.cv:.1%}, peak allocated "
            f"{env['cuda_max_allocated_bytes'] / 2**20:.1f} MiB, cudnn.benchmark={env['cudnn_benchmark']}")


def check_dtypes(model: str, device: str) -> str:
    """float16 with channels-last, and bfloat16 where the GPU supports it."""
    import torch

    import cspcost

    half = cspcost.profile(model, device=device, dtype="float16", channels_last=True, warmup=2, repeat=5)
    detail = f"float16+NHWC {half.latency.median_ms:.3f} ms"
    if torch.cuda.is_bf16_supported():
        bf16 = cspcost.profile(model, device=device, dtype="bfloat16", warmup=2, repeat=5)
        detail += f", bfloat16 {bf16.latency.median_ms:.3f} ms"
    else:
        detail += ", bfloat16 unsupported on this GPU (reported as a DeviceError)"
    return detail


def check_per_layer(model: str, device: str) -> str:
    """Per-layer times by CUDA events per op, names equal to the walker's, sum near end-to-end."""
    import cspcost

    r = cspcost.profile(model, device=device, warmup=3, repeat=10, per_layer=True, peaks=False)
    walker = cspcost.analyze(model).layers
    assert list(r.layers["name"]) == list(walker["name"]), "layer names differ from the walker's"
    ratio = r.layer_summary["layer_sum_ratio"]
    assert 0.2 < ratio < 5, f"per-layer sum / end-to-end = {ratio}"
    return f"{len(r.layers)} layers, per-layer sum / end-to-end {ratio:.2f}"


def check_compare(model: str, device: str) -> str:
    """`cspcost compare A B --profile --profile-device cuda`: paired ratios with intervals."""
    out = subprocess.run([sys.executable, "-m", "cspcost", "compare", model, "tinycsp", "--profile",
                          "--profile-device", device, "--rounds", "10", "--format", "json"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr.strip()
    data = json.loads(out.stdout)
    row = data["models"][1]
    low, high = row["latency_ratio_ci95"]
    assert low <= row["latency_ratio"] <= high and data["latency"]["environment"]["device"].startswith("cuda")
    return f"ratio {row['latency_ratio']:.3f} [{low:.3f}-{high:.3f}]"


def check_peaks(model: str, device: str) -> str:
    """`cspcost device --device cuda`: matmul/conv GFLOP/s and bandwidth (not cached here)."""
    import cspcost

    p = cspcost.measure_peaks(device, cache=False)
    assert p.matmul_gflops > 0 and p.conv_gflops > 0 and p.bandwidth_gbs > 0, p
    return f"matmul {p.matmul_gflops:.0f} GFLOP/s, conv {p.conv_gflops:.0f} GFLOP/s, {p.bandwidth_gbs:.0f} GB/s"


def check_oom(model: str, device: str) -> str:
    """An out-of-memory batch is reported with the largest batch that fitted, and memory is freed."""
    import torch

    import cspcost
    from cspcost.errors import OutOfMemoryError

    batch = 1 << 14  # 16384 images of 3x1024x1024 float32: 192 GiB of input alone
    try:
        cspcost.profile(torch.nn.Conv2d(3, 64, 3, padding=1), (3, 1024, 1024), batch=batch, device=device,
                        warmup=1, repeat=1)
    except OutOfMemoryError as exc:
        assert exc.exit_code == 2 and ("largest batch" in str(exc) or "not even" in str(exc)), exc
        torch.cuda.empty_cache()
        return f"batch {batch}: {exc}"
    raise AssertionError(f"batch {batch} did not run out of memory")


def check_cli(model: str, device: str) -> str:
    """`cspcost profile MODEL --device cuda`: the readable block, exit 0."""
    out = subprocess.run([sys.executable, "-m", "cspcost", "profile", model, "--device", device,
                          "--repeat", "5", "--warmup", "2"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.splitlines()[1].startswith("median "), out.stderr.strip()
    return out.stdout.splitlines()[1]


class Skipped(Exception):
    """A check that cannot run here (an optional package or provider is absent): one SKIP line."""


def check_ort_provider(provider: str) -> Check:
    """ONNX Runtime on the GPU through one execution provider, checked against eager, timed."""
    def check(model: str, device: str) -> str:
        import importlib.util

        if importlib.util.find_spec("onnxruntime") is None:
            raise Skipped("onnxruntime not installed (pip install 'cspcost[onnx]')")
        import onnxruntime as ort

        if provider not in ort.get_available_providers():
            raise Skipped(f"{provider} not in this onnxruntime build ({', '.join(ort.get_available_providers())})")
        import cspcost

        r = cspcost.profile(model, device=device, warmup=3, repeat=10, runtime="onnxruntime")
        env = r.environment
        assert env["providers"][0] == provider, f"session providers {env['providers']}"
        assert r.latency.median_ms > 0 and env["max_abs_diff_vs_eager"] >= 0, env
        return (f"median {r.latency.median_ms:.3f} ms, providers {env['providers']}, max |diff| vs eager "
                f"{env['max_abs_diff_vs_eager']:.2g}")
    return check


def check_compile(model: str, device: str) -> str:
    """torch.compile (inductor) on CUDA: compile time apart, latency timed by CUDA events."""
    import cspcost

    r = cspcost.profile(model, device=device, warmup=3, repeat=10, runtime="compile")
    env = r.environment
    assert env["compile_s"] > 0 and r.latency.median_ms > 0, env
    return f"median {r.latency.median_ms:.3f} ms, compiled in {env['compile_s']:.1f} s"


CHECKS: list[tuple[str, Check]] = [
    ("profile", check_profile), ("dtypes", check_dtypes), ("per-layer", check_per_layer),
    ("compare --profile", check_compare), ("device peaks", check_peaks), ("OOM report", check_oom),
    ("cli profile", check_cli), ("onnxruntime CUDA provider", check_ort_provider("CUDAExecutionProvider")),
    ("onnxruntime TensorRT provider", check_ort_provider("TensorrtExecutionProvider")),
    ("torch.compile on CUDA", check_compile),
]


def main() -> int:
    """Run every check; one line each; exit 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cspresnet10", help="zoo model to time (default cspresnet10)")
    parser.add_argument("--device", default="cuda", help="CUDA device (default cuda)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("SKIP all: no CUDA GPU (torch.cuda.is_available() is False)")
        return 0
    print(f"GPU {torch.cuda.get_device_name(torch.device(args.device))}, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    failed = 0
    for name, check in CHECKS:
        try:
            print(f"PASS {name}: {check(args.model, args.device)}", flush=True)
        except Skipped as why:
            print(f"SKIP {name}: {why}", flush=True)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the others still run
            failed += 1
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            print(f"FAIL {name}: {last}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
