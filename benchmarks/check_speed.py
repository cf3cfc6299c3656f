"""The CI gate's speed: ``cspcost check reports/budgets.toml`` against ``python -c "import torch"``.

Three whole processes per round, run side by side (import torch, check with a cold cache, check with
a warm cache) so that a drift of the machine's speed hits all alike; the figures are the medians of
the per-round ratios to import torch. The cold run measures every model (``--no-cache``); the warm
run reuses the measurements of a cache primed once before the rounds (a private temporary folder).

    python benchmarks/check_speed.py --rounds 9 [--budgets reports/budgets.toml]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def wall(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds one whole process takes, start to exit (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    """Run the rounds, print each, then the medians and the median ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--budgets", default="reports/budgets.toml")
    args = parser.parse_args()
    env = {**os.environ, "CSPCOST_CACHE_DIR": tempfile.mkdtemp(prefix="cspcost-bench-cache-")}
    torch_cmd = [sys.executable, "-c", "import torch"]
    check = [sys.executable, "-m", "cspcost", "check", args.budgets]
    commands = {"import torch": torch_cmd, "check, cold cache": [*check, "--no-cache"], "check, warm cache": check}
    for cmd in commands.values():
        wall(cmd, env)  # warm the page cache; the warm-cache check's cache is filled here
    runs: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(args.rounds):
        for name, cmd in commands.items():
            runs[name].append(wall(cmd, env))
        print(f"round {i + 1:2d}: " + ", ".join(f"{name} {runs[name][-1]:.2f} s" for name in commands))
    base = runs["import torch"]
    for name in commands:
        ratios = [t / b for t, b in zip(runs[name], base)]
        print(f"{name}: median {statistics.median(runs[name]):.2f} s, median ratio to import torch "
              f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
