"""Where the CPU went during a benchmark phase (Linux): shared by the benchmarks.

On a 2-core machine the benchmark client, the services, Redis and PostgreSQL share the
cores, so each phase reports each process's CPU time and the time it spent runnable but
waiting for a CPU, and the machine's CPU pressure (PSI).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import psutil


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the process (NaN once it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return math.nan
    return float(times.user + times.system)


def run_queue_wait_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU."""
    total_ns = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                total_ns += int((task / "schedstat").read_text().split()[1])
    except OSError:
        return math.nan
    return total_ns / 1e9


def cpu_pressure_s() -> float:
    """Seconds in which some task waited for a CPU, since boot (PSI)."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return int(some.rpartition("total=")[2]) / 1e6
    except (OSError, ValueError, IndexError):
        return math.nan
