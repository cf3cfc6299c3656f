"""Time cspcost's analytic pass against fvcore, ptflops and torch's FlopCounterMode.

Each (tool, model, input) runs in its own subprocess, so peak resident memory (ru_maxrss) is the
tool's own. Time is the median of ``--repeat`` runs after one warm-up, model construction and input
creation excluded. "bare meta forward" is the floor: PyTorch dispatching every op once on meta.

    python benchmarks/bench.py                 # all models
    python benchmarks/bench.py --models resnext50 --repeat 3
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).parent
CASES = {  # name -> (factory in nets.py, input side)
    "resnext50@256": ("resnext50_32x4d", 256),
    "resnext50@512": ("resnext50_32x4d", 512),
    "densenet201@224": ("densenet201", 224),
    "billion@8192": ("billion", None),
}
TOOLS = ["cspcost", "bare-meta-forward", "fvcore", "ptflops", "FlopCounterMode"]


def _model_and_input(case: str, device: str):  # noqa: ANN202
    """Build the case's model (on ``device``) and its input."""
    import torch

    sys.path.insert(0, str(HERE))
    import nets

    factory, side = CASES[case]
    with torch.device(device):
        model = getattr(nets, factory)().eval()
    shape = (1, 8192) if side is None else (1, 3, side, side)
    return model, torch.zeros(shape, device=device)


def _runner(tool: str, case: str) -> Callable[[], object]:
    """A zero-argument callable that runs one analysis."""
    import torch

    if tool in ("cspcost", "bare-meta-forward"):
        model, x = _model_and_input(case, "meta")  # no weights: nothing to allocate
        if tool == "cspcost":
            import cspcost

            return lambda: cspcost.analyze(model, inputs=[x])

        def bare() -> object:
            with torch.inference_mode():
                return model(x)

        return bare
    model, x = _model_and_input(case, "cpu")  # the peers need real weights and run real kernels
    if tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis

        def run_fvcore() -> object:
            analysis = FlopCountAnalysis(model, (x,))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return analysis.total()

        return run_fvcore
    if tool == "ptflops":
        from ptflops import get_model_complexity_info

        return lambda: get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False,
                                                 print_per_layer_stat=False, backend="pytorch")
    from torch.utils.flop_counter import FlopCounterMode

    def run_fcm() -> object:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
        return counter.get_total_flops()

    return run_fcm


def measure(tool: str, case: str, repeat: int, threads: int) -> dict[str, float]:
    """Median seconds over ``repeat`` runs after a warm-up, and this process's peak RSS in MB."""
    import torch

    if threads:
        torch.set_num_threads(threads)  # the peers run real kernels: threads change their time
    run = _runner(tool, case)
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": statistics.median(times), "peak_rss_mb": peak_mb}


def _in_subprocess(tool: str, case: str, repeat: int, threads: int) -> dict[str, float]:
    """Run ``measure`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, "--child", tool, case, str(repeat), str(threads)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run every tool on every case and print times, peak memory and the ratios that matter."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(CASES), help=f"cases, from {list(CASES)}")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, case, repeat, threads = args.child
        print(json.dumps(measure(tool, case, int(repeat), int(threads))))
        return
    print(f"{'case':<18}{'tool':<20}{'time ms':>10}{'peak RSS MB':>13}{'vs cspcost':>12}")
    for case in args.models:
        rows = {tool: _in_subprocess(tool, case, args.repeat, args.threads) for tool in TOOLS}
        ours = rows["cspcost"]["seconds"]
        for tool, row in rows.items():
            ratio = row["seconds"] / ours
            print(f"{case:<18}{tool:<20}{1000 * row['seconds']:>10.1f}{row['peak_rss_mb']:>13.0f}{ratio:>11.2f}x")
        print(f"{'':<18}cspcost / bare meta forward = {ours / rows['bare-meta-forward']['seconds']:.2f}; "
              f"fvcore / cspcost = {rows['fvcore']['seconds'] / ours:.1f}x")


if __name__ == "__main__":
    main()
