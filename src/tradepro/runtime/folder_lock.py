"""Exclusive locks on files in the data folder, released by the kernel when the holders die.

A ``flock`` lock belongs to an open file description, not to a process: every process
holding a descriptor of it (inherited across ``fork`` and ``exec``) keeps the lock alive,
and the kernel drops it when the last of them has exited, however it ended (``kill -9``
included). So a crash never leaves a stale lock, and nothing has to clean up after one.

Two locks use this (see docs/single-writer.md):

- ``engine.lock``: held by ``tradepro engine`` for its whole life on the embedded default,
  so two engines never apply one journal.
- ``up.lock``: taken by ``tradepro up`` and inherited by every service it starts, so a new
  ``up`` can tell that a previous instance's services still run (even after that ``up``
  was killed) and wait until the last of them is gone.

Who holds a lock is found by looking for descriptors of the lock file in ``/proc`` (Linux;
elsewhere the wait still works, it just cannot name the processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

EXIT_LOCKED = 75
"""How a service ends when another process keeps the lock it needs (``EX_TEMPFAIL``)."""
PROGRESS_EVERY_S = 2.0
POLL_S = 0.05


class Holder(NamedTuple):
    """A process that holds a descriptor of a lock file."""

    pid: int
    name: str
    """The ``tradepro`` subcommand it runs (``engine``, ``api``, ``up``...), else its program."""

    def __str__(self) -> str:
        return f"{self.name} (pid {self.pid})"


class FolderLock:
    """One exclusive, non-blocking ``flock`` on ``path`` (created if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.held = False

    @property
    def fileno(self) -> int:
        """The descriptor that carries the lock (pass it to children to share the lock)."""
        assert self._fd is not None, "try_acquire() first"
        return self._fd

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never blocks."""
        if self.held:
            return True
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        return True

    def release(self) -> None:
        """Close this process's descriptor (children that inherited it keep the lock)."""
        fd, self._fd, self.held = self._fd, None, False
        if fd is not None:
            os.close(fd)

    def holders(self) -> list[Holder]:
        """Other processes with the lock file open, by pid (empty where ``/proc`` is not)."""
        try:
            target = os.stat(self.path)
        except OSError:
            return []
        found = []
        for pid in _pids():
            if pid != os.getpid() and _has_open(pid, target.st_dev, target.st_ino):
                found.append(Holder(pid, _program(pid)))
        return found


async def wait_for_lock(
    lock: FolderLock,
    timeout_s: float,
    progress: Callable[[list[Holder], float], None],
    *,
    stop: asyncio.Event | None = None,
    every_s: float = PROGRESS_EVERY_S,
) -> bool:
    """Take ``lock``, waiting up to ``timeout_s``: True once held, False on timeout or when
    ``stop`` is set. While waiting, ``progress(holders, waited_s)`` is called at once and
    then every ``every_s`` seconds, so the wait is never silent."""
    started_s = time.monotonic()
    next_progress_s = started_s
    while not lock.try_acquire():
        now_s = time.monotonic()
        if now_s - started_s >= timeout_s or (stop is not None and stop.is_set()):
            return False
        if now_s >= next_progress_s:
            progress(lock.holders(), now_s - started_s)
            next_progress_s = now_s + every_s
        await asyncio.sleep(POLL_S)
    return True


def _pids() -> list[int]:
    with contextlib.suppress(OSError):
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return []


def _has_open(pid: int, device: int, inode: int) -> bool:
    try:
        descriptors = os.scandir(f"/proc/{pid}/fd")
    except OSError:  # gone, or another user's process
        return False
    with descriptors:
        for descriptor in descriptors:
            with contextlib.suppress(OSError):
                found = os.stat(descriptor.path)
                if found.st_ino == inode and found.st_dev == device:
                    return True
    return False


def _program(pid: int) -> str:
    """``engine`` for ``python -m tradepro.cli engine``, ``up`` for ``tradepro up``..."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "process"
    argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    for index, arg in enumerate(argv[:-1]):
        if arg == "tradepro.cli" or os.path.basename(arg) == "tradepro":
            return argv[index + 1]
    return os.path.basename(argv[0]) if argv else "process"
