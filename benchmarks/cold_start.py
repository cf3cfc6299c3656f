"""Cold start: a fresh ``cspcost analyze`` process against a fresh ``python -c "import torch"``.

Whole processes, run as alternating pairs (torch, cspcost, torch, cspcost, ...) so that a drift of
the machine's speed hits both sides alike; the figure is the median of the per-pair ratios.

    python benchmarks/cold_start.py --pairs 15 [--model cspresnext50]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str]) -> float:
    """Seconds one whole process takes, start to exit."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Run the pairs and print each, then the medians and the median ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--model", default="cspresnext50")
    args = parser.parse_args()
    torch_cmd = [sys.executable, "-c", "import torch"]
    cspcost_cmd = [sys.executable, "-m", "cspcost", "analyze", args.model]
    wall(torch_cmd), wall(cspcost_cmd)  # warm the page cache for both
    pairs = []
    for i in range(args.pairs):
        t, c = wall(torch_cmd), wall(cspcost_cmd)
        pairs.append((t, c))
        print(f"pair {i + 1:2d}: import torch {t:.2f} s, cspcost analyze {c:.2f} s, ratio {c / t:.2f}")
    ratios = [c / t for t, c in pairs]
    print(f"median: import torch {statistics.median(t for t, _ in pairs):.2f} s, cspcost analyze "
          f"{statistics.median(c for _, c in pairs):.2f} s; median ratio {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}, {len(pairs)} pairs)")


if __name__ == "__main__":
    main()
