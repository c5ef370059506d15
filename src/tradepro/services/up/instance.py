"""One ``tradepro up`` per data folder at a time, including the services of a killed one.

``up`` takes ``up.lock`` in the data folder before it migrates or starts anything, and
every service it starts inherits the descriptor that holds it. The lock therefore lives
until the last process of the instance has exited: a ``kill -9`` of ``up`` leaves its
services draining (they got SIGTERM from the kernel) and still holding it, so a new
``up`` started at once waits for them instead of running beside them. Their ports are
free once they are gone (they all hold the lock), so the new services can listen.

The wait is bounded (``--stop-timeout`` plus a margin: the old services stop within
their own stop timeout once signalled) and says every 2 s what it waits for, with pids.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tradepro.runtime.folder_lock import FolderLock, Holder, wait_for_lock
from tradepro.services.up.process import Console

INSTANCE_LOCK_FILE = "up.lock"
PREVIOUS_MARGIN_S = 15.0
"""Beyond ``--stop-timeout``: time for a killed instance's services to finish draining."""


def previous_timeout_s(stop_timeout_s: float) -> float:
    return stop_timeout_s + PREVIOUS_MARGIN_S


def describe_holders(holders: list[Holder]) -> str:
    """Who holds the folder, in words (an ``up`` still running is named as such)."""
    if any(holder.name == "up" for holder in holders):
        who = "another tradepro up on this data folder"
    else:
        who = "a previous instance's services"
    return f"{who}: {', '.join(map(str, holders))}" if holders else who


def claim_data_folder(data_dir: Path, timeout_s: float, console: Console) -> FolderLock | None:
    """The instance lock on ``data_dir``, waiting up to ``timeout_s`` for a previous
    instance to be gone; None (after saying why) if it is still there then."""
    lock = FolderLock(data_dir / INSTANCE_LOCK_FILE)

    def progress(holders: list[Holder], waited_s: float) -> None:
        console.note(
            f"waiting until the data folder is free ({waited_s:.0f} s; up gives up after "
            f"{timeout_s:g} s), held by {describe_holders(holders)}"
        )

    if asyncio.run(wait_for_lock(lock, timeout_s, progress)):
        return lock
    holders = lock.holders()
    lock.release()
    pids = " ".join(str(holder.pid) for holder in holders)
    how = f"stop them (kill {pids}) or wait, " if pids else "wait for them to stop, "
    print(
        f"tradepro up: the data folder {data_dir} is still in use after {timeout_s:g} s, by "
        f"{describe_holders(holders)}. To start anew, {how}then run tradepro up again",
        file=sys.stderr,
    )
    return None
