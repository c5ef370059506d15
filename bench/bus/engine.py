"""The engine under test as a child process, and Redis's own command counters."""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from redis.asyncio import Redis

from bus.options import REPO

CPU_PROFILED_ENGINE = """
import cProfile, sys, time
from tradepro.cli import main
profiler = cProfile.Profile(time.process_time)
try:
    code = profiler.runcall(main, ["engine"])
finally:
    profiler.dump_stats(sys.argv[1])
sys.exit(code)
"""
"""``tradepro engine`` under cProfile with a CPU-time clock: on a shared machine a wall
clock would charge the time spent waiting for a CPU to whatever function was running."""


class EngineProcess:
    """``python -m tradepro.cli engine`` as a child process, its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path, profile_prefix: str | None) -> None:
        self.env = env
        self.log_path = log_path
        self.profile_prefix = profile_prefix
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, log_level: str = "WARNING", *, profile: bool = True) -> None:
        self.starts += 1
        command = [sys.executable]
        if self.profile_prefix and profile:
            command += ["-c", CPU_PROFILED_ENGINE, f"{self.profile_prefix}.{self.starts}.prof"]
        else:
            command += ["-m", "tradepro.cli", "engine"]
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command,
                env={**self.env, "LOG_LEVEL": log_level},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def check_alive(self) -> None:
        if self.process is None or self.process.returncode is not None:
            code = None if self.process is None else self.process.returncode
            raise RuntimeError(f"the engine is not running (exit code {code})")

    def psutil_process(self) -> psutil.Process | None:
        try:
            return psutil.Process(self.pid)
        except (psutil.Error, AssertionError):
            return None

    def rss_mb(self) -> float:
        process = self.psutil_process()
        return round(process.memory_info().rss / 2**20, 1) if process else math.nan

    async def terminate(self, timeout_s: float) -> int:
        """SIGTERM (the engine writes its final snapshot) and wait for the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout_s)
        self.process = None
        return code

    async def stop(self) -> None:
        """Make sure the process is gone: SIGTERM, then SIGKILL after a grace period."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_times(self, since_wall_s: float) -> dict[str, float]:
        """Wall times (epoch seconds) of the INFO start-up lines logged after ``since``."""
        found: dict[str, float] = {}
        for line in self.log_path.read_text(errors="replace").splitlines():
            for marker in ("engine starting", "engine restored"):
                if marker in line and marker not in found:
                    with contextlib.suppress(ValueError):
                        stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                        if stamp >= since_wall_s - 0.002:
                            found[marker] = stamp
        return found


REDIS_COMMANDS = ("xadd", "xread", "exec", "xtrim")


async def redis_commands(redis: Redis) -> dict[str, tuple[int, int]]:
    """Redis's own counters: command -> (calls, server-side microseconds) since start."""
    info: dict[str, Any] = await redis.info("commandstats")
    counters: dict[str, tuple[int, int]] = {}
    for name in REDIS_COMMANDS:
        stats = info.get(f"cmdstat_{name}") or {}
        counters[name] = (int(stats.get("calls", 0)), int(stats.get("usec", 0)))
    return counters


def command_use(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], published: int
) -> dict[str, float]:
    """Per-phase Redis command counts and server time; ``callbacks_per_exec`` is the
    engine's mean batch (XADDs that were not this benchmark's ``published`` requests,
    per MULTI/EXEC). The Redis server is shared: other clients' commands count too."""
    use: dict[str, float] = {}
    for name in REDIS_COMMANDS:
        use[name] = after[name][0] - before[name][0]
        use[name + "_ms"] = round((after[name][1] - before[name][1]) / 1000, 1)
    use["callbacks_per_exec"] = round((use["xadd"] - published) / max(1, use["exec"]), 1)
    return use


def command_text(use: dict[str, float]) -> str:
    return (
        f"Redis: {use['exec']:,.0f} callback batches of {use['callbacks_per_exec']:g}, "
        f"{use['xread']:,.0f} XREAD, {use['xtrim']:,.0f} XTRIM taking {use['xtrim_ms']:g} ms"
    )
