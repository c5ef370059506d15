"""The data folder's locks (``folder_lock``): exclusive, named holders, released by the
kernel when the holder dies however it dies, and kept by a descriptor a child inherited."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradepro.runtime.folder_lock import FolderLock, Holder, wait_for_lock

HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tradepro.runtime.folder_lock import FolderLock

    lock = FolderLock(Path(sys.argv[1]))
    print("held" if lock.try_acquire() else "refused", flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``tmp_path / "x.lock"`` until its stdin closes."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "x.lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    assert child.stdout.readline() == "held\n"
    yield child
    child.kill()
    child.wait()


def test_one_holder_at_a_time_even_within_one_process(tmp_path: Path) -> None:
    first, second = FolderLock(tmp_path / "x.lock"), FolderLock(tmp_path / "x.lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_the_holder_is_named_by_pid(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    lock = FolderLock(tmp_path / "x.lock")
    assert not lock.try_acquire()
    assert [found.pid for found in lock.holders()] == [holder.pid]
    assert str(Holder(42, "engine")) == "engine (pid 42)"


async def test_a_killed_holder_leaves_no_stale_lock(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    lock = FolderLock(tmp_path / "x.lock")
    seen: list[list[int]] = []

    def progress(holders: list[Holder], waited_s: float) -> None:
        seen.append([found.pid for found in holders])
        holder.send_signal(signal.SIGKILL)  # no chance to unlock anything

    assert await wait_for_lock(lock, 30.0, progress)
    assert seen[0] == [holder.pid]  # said at once whom it waits for
    lock.release()


async def test_the_wait_is_bounded_and_stops_on_request(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    lock = FolderLock(tmp_path / "x.lock")
    calls: list[float] = []
    assert not await wait_for_lock(lock, 0.2, lambda _, waited_s: calls.append(waited_s))
    assert calls  # never a silent wait
    stop = asyncio.Event()
    stop.set()
    assert not await wait_for_lock(lock, 30.0, lambda *_: None, stop=stop)
    assert holder.poll() is None


def test_a_child_that_inherited_the_descriptor_keeps_the_lock(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path / "x.lock")
    assert lock.try_acquire()
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE, pass_fds=(lock.fileno,),
    )  # fmt: skip
    try:
        lock.release()  # this process lets go; the child's descriptor holds it on
        other = FolderLock(tmp_path / "x.lock")
        assert not other.try_acquire()
        assert [found.pid for found in other.holders()] == [child.pid]
    finally:
        child.kill()
        child.wait()
    assert other.try_acquire()
    other.release()
