"""Is a measurement trustworthy? The machine's state while timing, and warnings that say why not.

In the spirit of pyperf's ``check`` (which warns when the standard deviation exceeds 10% of the
mean, or when the system is busy): every warning names the reason and the number behind it.
Thresholds are module constants so that a reader (and a test) can see them.
"""
from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from glob import glob
from typing import Any, Iterator, Sequence

import numpy as np

CV_MAX = 0.10  # standard deviation over mean (pyperf's threshold)
DRIFT_MAX = 0.10  # medians of the first and second half of the runs differ by more: a drift
STEAL_MAX = 0.05  # share of CPU time the hypervisor gave to other guests
CPU_SHARE_MIN = 0.90  # below, the timed threads waited for their cores
FREQ_CHANGE_MAX = 0.05  # relative change of the mean CPU clock between start and end
MIN_DRIFT_RUNS = 10  # fewer runs do not show a drift


@contextmanager
def load_meter(threads: int) -> Iterator[dict[str, Any]]:
    """How busy the machine was while timing: CPU share, load average, steal, CPU clock.

    ``cpu_share`` is this process's CPU time over (wall time x threads): near 1.0 the timed
    threads had their cores; well below, other processes took turns on them and the latency
    includes waiting. ``cpu_mhz_start``/``cpu_mhz_end`` are the mean CPU clock (None when the
    system does not show it). Filled in when the block exits.
    """
    meter: dict[str, Any] = {}
    cpu, wall, ticks, mhz = time.process_time(), time.perf_counter(), cpu_ticks(), cpu_mhz()
    try:
        yield meter
    finally:
        elapsed = max(time.perf_counter() - wall, 1e-9)
        meter["cpu_share"] = (time.process_time() - cpu) / (elapsed * threads)
        meter["load_avg_1min"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        meter["cpu_steal_share"] = steal_share(ticks, cpu_ticks())
        meter["cpu_mhz_start"], meter["cpu_mhz_end"] = mhz, cpu_mhz()


def cpu_ticks() -> tuple[int, int] | None:
    """(all, steal) CPU ticks of the machine from /proc/stat (Linux), or None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float:
    """The share of CPU time a virtual machine's host took away while timing (NaN if unknown).

    Well above zero, the hypervisor ran other guests on our cores: latencies vary between runs
    however many repeats are taken.
    """
    if before is None or after is None or after[0] == before[0]:
        return float("nan")
    return (after[1] - before[1]) / (after[0] - before[0])


def cpu_mhz() -> float | None:
    """The mean current CPU clock in MHz: cpufreq's ``scaling_cur_freq``, else /proc/cpuinfo."""
    khz = []
    for path in glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq"):
        try:
            with open(path, encoding="ascii") as handle:
                khz.append(int(handle.read().strip()))
        except (OSError, ValueError):
            continue
    if khz:
        return sum(khz) / len(khz) / 1e3
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            mhz = [float(line.split(":")[1]) for line in handle if line.startswith("cpu MHz")]
    except (OSError, ValueError, IndexError):
        return None
    return sum(mhz) / len(mhz) if mhz else None


def drift(samples_ms: Sequence[float]) -> float:
    """Relative change of the median from the first to the second half of the runs (NaN if few)."""
    if len(samples_ms) < MIN_DRIFT_RUNS:
        return math.nan
    half = len(samples_ms) // 2
    first, second = float(np.median(samples_ms[:half])), float(np.median(samples_ms[half:]))
    return second / first - 1.0


def noise_warnings(samples_ms: Sequence[float], cv: float, environment: dict[str, Any]) -> list[str]:
    """Why a run may not be trustworthy: one line per reason, with its number (empty if none).

    Args:
        samples_ms: the runs in the order they were taken.
        cv: their coefficient of variation.
        environment: the stamp with the load meter's keys (``cpu_share``, ``load_avg_1min``,
            ``cpu_steal_share``, ``cpu_mhz_start``, ``cpu_mhz_end``, ``cpu_count``, ``threads``).
    """
    found = []
    if cv > CV_MAX:
        found.append(f"high spread: CV {_percent(cv, CV_MAX)} > {CV_MAX:.0%} (run-to-run variation)")
    shift = drift(samples_ms)
    if abs(shift) > DRIFT_MAX:
        found.append(f"drift: the median moved {shift:+.0%} from the first to the second half of the runs")
    found += _machine_warnings(environment)
    return found


def _percent(value: float, limit: float) -> str:
    """``value`` as a percentage with the fewest decimals (up to 3) that keep it visibly on its side
    of ``limit``: a CV of 10.04% against 10% reads "10.04%", never "10% > 10%"."""
    for digits in range(4):
        text = f"{value:.{digits}%}"
        if (float(text[:-1]) > limit * 100) == (value > limit) and float(text[:-1]) != limit * 100:
            return text
    return f"{value:.4%}"


def _machine_warnings(env: dict[str, Any]) -> list[str]:
    """Warnings about the machine: steal, a busy CPU, load, a changed CPU clock."""
    found = []
    steal, share = env.get("cpu_steal_share", math.nan), env.get("cpu_share", math.nan)
    if steal > STEAL_MAX:
        found.append(f"CPU steal {_percent(steal, STEAL_MAX)}: the hypervisor ran other guests on these cores")
    if share < CPU_SHARE_MIN:
        found.append(f"CPU share {_percent(share, CPU_SHARE_MIN)}: the timed threads waited for their cores")
    load, cpus = env.get("load_avg_1min", math.nan), env.get("cpu_count", 0)
    if cpus and load > cpus:
        found.append(f"load average {load:.1f} on {cpus} CPUs: other processes compete for the cores")
    start, end = env.get("cpu_mhz_start"), env.get("cpu_mhz_end")
    if start and end and abs(end / start - 1) > FREQ_CHANGE_MAX:
        found.append(f"CPU clock changed from {start:.0f} to {end:.0f} MHz while timing")
    return found
