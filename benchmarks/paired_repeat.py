"""Is the paired latency interval honest? Run `cspcost compare A B --profile` several times in a row.

    python benchmarks/paired_repeat.py                          # resnet10 vs cspresnet10, 3 runs
    python benchmarks/paired_repeat.py --runs 6 peleenet csppeleenet

Each invocation is a fresh process, as a user would run it. Prints per run the two medians, the
ratio, its 95% interval and width, and the machine's load; then the spread of the ratios, whether
every ratio lies inside every other run's interval, and the widest interval relative to its ratio
(issue 16's acceptance: spread <= 3%, all inside, widths < 10%).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys


def one_run(models: list[str], rounds: int | None) -> dict:
    """One `cspcost compare ... --profile --format json` in a fresh process: its second model's row."""
    extra = ["--rounds", str(rounds)] if rounds else []  # else the command's own defaults
    out = subprocess.run([sys.executable, "-m", "cspcost", "compare", *models, "--profile", *extra,
                          "--format", "json"], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    env = data["latency"]["environment"]
    return {"base_ms": data["models"][0]["latency_ms"], **data["models"][1],
            "load": env["load_avg_1min"], "share": env["cpu_share"], "steal": env["cpu_steal_share"]}


def main() -> int:
    """Run, print one line per run and the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["resnet10", "cspresnet10"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=None, help="rounds per process (default: compare's)")
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        r = one_run(args.models, args.rounds)
        low, high = r["latency_ratio_ci95"]
        width = (high - low) / r["latency_ratio"]
        runs.append((r["latency_ratio"], low, high, width))
        print(f"run {i + 1}: {r['base_ms']:.1f} / {r['latency_ms']:.1f} ms, ratio {r['latency_ratio']:.4f} "
              f"[{low:.4f}, {high:.4f}] width {width:.1%}; load {r['load']:.1f}, CPU share {r['share']:.0%}, "
              f"steal {r['steal']:.1%}", flush=True)
    ratios = [r[0] for r in runs]
    inside = all(lo <= x <= hi for x in ratios for _, lo, hi, _ in runs)
    print(f"spread {max(ratios) / min(ratios) - 1:.1%}; every ratio inside every interval: {inside}; "
          f"widest interval {max(r[3] for r in runs):.1%} of its ratio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
