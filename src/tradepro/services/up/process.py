"""One service as a child process of ``tradepro up``: started through ``up.guard`` (it dies
with ``up``), in a process group of its own (a Ctrl-C in the terminal reaches ``up`` only,
which then stops the services in order), its output forwarded line by line with the
service's name in front and its last lines kept for error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Mapping
from typing import TextIO

from tradepro.services.up.guard import guard_command
from tradepro.services.up.plan import ServiceSpec, describe_ending

PREFIX_WIDTH = 6
"""The longest service name (``engine``, ``poller``): every prefix has the same width."""
TAIL_LINES = 15
LINE_LIMIT_BYTES = 1 << 20
"""Longer lines are forwarded in pieces of this size rather than lost."""


class Console:
    """Where ``up`` writes: one line at a time, each with a fixed-width name prefix.

    A reader that went away (``tradepro up | head``, a closed terminal) must not stop the
    supervision: the output is dropped from then on, and the services are still stopped in
    order.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._broken = False

    def line(self, name: str, text: str) -> None:
        self.write(f"{name:<{PREFIX_WIDTH}} | {text}")

    def note(self, text: str) -> None:
        """A line from ``up`` itself."""
        self.line("up", text)

    def write(self, text: str) -> None:
        if self._broken:
            return
        try:
            self._stream.write(text + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # a broken pipe, a hung-up terminal (EIO), closed
            self._broken = True


async def read_line(stream: asyncio.StreamReader) -> bytes | None:
    """The next line (with its newline), the last unterminated one, or None at the end.
    An overlong line comes in pieces instead of being dropped."""
    try:
        return await stream.readuntil(b"\n")
    except asyncio.IncompleteReadError as end:
        return end.partial or None
    except asyncio.LimitOverrunError as overlong:
        return await stream.readexactly(overlong.consumed)


class ServiceProcess:
    """A service child: start, forward its output, signal it, wait for its end."""

    def __init__(
        self,
        spec: ServiceSpec,
        env: Mapping[str, str],
        console: Console,
        inherited_fds: tuple[int, ...] = (),
    ) -> None:
        self.spec = spec
        self.inherited_fds = inherited_fds
        self.env = dict(env)
        self.console = console
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.terminated = False
        """Whether ``up`` asked the current process to stop (SIGTERM)."""
        self.killed = False
        """Whether ``up`` had to SIGKILL the current process."""
        self._ended: asyncio.Task[int] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        """Started and not yet seen to end (its output may still be draining)."""
        return self._ended is not None and not self._ended.done()

    async def start(self) -> None:
        command = guard_command(os.getpid(), self.spec.argv)
        self.process = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env,
            process_group=0,
            pass_fds=self.inherited_fds,
            limit=LINE_LIMIT_BYTES,
        )
        self.starts += 1
        self.terminated = self.killed = False
        self._ended = asyncio.create_task(self._forward_until_exit(self.process))
        verb = "started" if self.starts == 1 else "restarted"
        self.console.note(f"{self.name} {verb} (pid {self.process.pid})")

    async def wait(self) -> int:
        """The exit status once the process has ended and all its output is forwarded."""
        assert self._ended is not None, "not started"
        return await asyncio.shield(self._ended)

    def terminate(self) -> None:
        """Ask it to drain and stop."""
        if self.running:
            self.terminated = True
        self.send(signal.SIGTERM)

    def send(self, signum: signal.Signals) -> None:
        if not self.running or self.process is None:
            return
        if signum == signal.SIGKILL:
            self.killed = True
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)

    def ending(self) -> tuple[str, bool]:
        """How the last process ended, and whether that was a clean stop."""
        returncode = self.process.returncode if self.process is not None else None
        return describe_ending(returncode, terminated=self.terminated, killed=self.killed)

    def last_lines(self) -> str:
        return "\n".join(f"    {self.name} | {line}" for line in self.tail) or "    (no output)"

    async def _forward_until_exit(self, process: asyncio.subprocess.Process) -> int:
        assert process.stdout is not None
        while (raw := await read_line(process.stdout)) is not None:
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.tail.append(text)
            self.console.line(self.name, text)
        return await process.wait()
