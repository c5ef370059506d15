"""Where the CPU went during a benchmark phase (Linux): shared by the benchmarks.

On a 2-core machine the benchmark client, the services, Redis and PostgreSQL share the
cores, so each phase reports each process's CPU time and the time it spent runnable but
waiting for a CPU, and the machine's CPU pressure (PSI).
"""

from __future__ import annotations

import contextlib
import math
import time
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


Processes = psutil.Process | list[psutil.Process] | None
"""One process, a group measured as one (e.g. PostgreSQL's backends), or none."""


class CpuMeter:
    """CPU use of a few processes (or groups) over a phase, in percent of one core.

    For each process: ``<name>`` is CPU time (user + system); ``<name>_wait`` the time
    its threads were runnable but waiting for a CPU (``/proc/<pid>/task/*/schedstat``),
    i.e. what the machine's other load costs it. ``psi`` is the share of the wall time
    in which some task on the machine waited for a CPU (``/proc/pressure/cpu``).
    """

    def __init__(self, processes: dict[str, Processes]) -> None:
        self.processes = {
            name: group if isinstance(group, list) else [group]
            for name, group in processes.items()
            if group is not None
        }
        self.started = time.perf_counter()
        self.before = self._read()

    def _read(self) -> dict[str, float]:
        readings = {"psi": cpu_pressure_s()}
        for name, group in self.processes.items():
            readings[name] = sum(cpu_s(process.pid) for process in group)
            readings[name + "_wait"] = sum(run_queue_wait_s(process.pid) for process in group)
        return readings

    def percent(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self.started
        after = self._read()
        return {
            name: round(100 * (after[name] - self.before[name]) / elapsed, 1)
            for name in sorted(after, key=lambda name: name == "psi")
        }


def cpu_text(percent: dict[str, float]) -> str:
    """``engine 33% (+41% waiting)``, ..., ``CPU pressure 55%``."""
    parts = [
        f"{name} {value:.0f}% (+{percent.get(name + '_wait', math.nan):.0f}% waiting)"
        for name, value in percent.items()
        if not name.endswith("_wait") and name != "psi"
    ]
    return ", ".join(parts) + f"; CPU pressure {percent.get('psi', math.nan):.0f}%"
