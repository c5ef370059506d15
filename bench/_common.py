"""What the benchmarks share: progress lines, percentiles, free ports, and where the CPU
went during a phase (Linux).

On a 2-core machine the benchmark client, the services, Redis and PostgreSQL share the
cores, so each phase reports each process's CPU time and the time it spent runnable but
waiting for a CPU, and the machine's CPU pressure (PSI): ``CpuMeter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import psutil

_T0 = time.monotonic()


REPO = Path(__file__).resolve().parent.parent
"""The repository: where the services a benchmark starts run from."""


def say(message: str) -> None:
    """A progress line, stamped with the seconds since the benchmark started."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", flush=True)


def percentile(samples: Iterable[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` 0.99 for p99, 1.0 for the maximum), in the
    samples' unit; NaN without samples. Sorting a sorted list costs one pass."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(load, 2) for load in os.getloadavg()]


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

    def _read(self) -> dict[tuple[str, int], float]:
        """Per process: ``(name, pid)`` CPU seconds and ``(name + "_wait", pid)`` waiting
        seconds; ``("psi", 0)`` for the machine."""
        readings = {("psi", 0): cpu_pressure_s()}
        for name, group in self.processes.items():
            for process in group:
                readings[name, process.pid] = cpu_s(process.pid)
                readings[name + "_wait", process.pid] = run_queue_wait_s(process.pid)
        return readings

    def percent(self) -> dict[str, float]:
        """Each name's use over the phase. A process of a group that was gone at either
        end (a PostgreSQL backend that exited) is left out rather than making it NaN."""
        elapsed = time.perf_counter() - self.started
        after = self._read()
        totals: dict[str, float] = {}
        for (name, pid), value in after.items():
            used = value - self.before[name, pid]
            if name not in totals or not math.isnan(used):
                previous = totals.get(name, math.nan)
                totals[name] = used if math.isnan(previous) else previous + used
        return {
            name: round(100 * used / elapsed, 1)
            for name, used in sorted(totals.items(), key=lambda item: item[0] == "psi")
        }


def cpu_text(percent: dict[str, float]) -> str:
    """``engine 33% (+41% waiting)``, ..., ``CPU pressure 55%``."""
    parts = [
        f"{name} {value:.0f}% (+{percent.get(name + '_wait', math.nan):.0f}% waiting)"
        for name, value in percent.items()
        if not name.endswith("_wait") and name != "psi"
    ]
    return ", ".join(parts) + f"; CPU pressure {percent.get('psi', math.nan):.0f}%"


@contextlib.contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process with ``env`` added and its output in ``log``, stopped on exit."""
    with log.open("wb") as out:
        child = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        )
        try:
            yield child
        finally:
            child.terminate()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()


async def wait_http(url: str, timeout_s: float = 60) -> None:
    """Wait until ``url`` answers below 500 (a service that has come up)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not come up")
