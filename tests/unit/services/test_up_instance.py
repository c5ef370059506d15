"""One ``tradepro up`` per data folder: it waits (bounded, saying for whom) while another
process holds the instance lock, its services inherit that lock, and a service that finds
the folder held by a foreign engine (exit ``EXIT_LOCKED``) stops everything, unrestarted."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.stack import eventually
from tradepro.runtime.folder_lock import EXIT_LOCKED, FolderLock
from tradepro.services.up.instance import INSTANCE_LOCK_FILE, claim_data_folder
from tradepro.services.up.plan import ServiceSpec, UpOptions
from tradepro.services.up.process import Console
from tradepro.services.up.supervisor import Supervisor

OPTIONS = UpOptions(feed="sim", start_timeout_s=30.0, stop_timeout_s=0.5)
HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tradepro.runtime.folder_lock import FolderLock

    assert FolderLock(Path(sys.argv[1])).try_acquire()
    print("held", flush=True)
    sys.stdin.read()
    """
)


def test_up_waits_for_the_holder_then_gives_up_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / INSTANCE_LOCK_FILE)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        out = io.StringIO()
        assert claim_data_folder(tmp_path, 0.3, Console(out)) is None
    finally:
        holder.kill()
        holder.wait()
    waiting = out.getvalue()
    assert "held by a previous instance's services" in waiting, waiting
    assert f"(pid {holder.pid})" in waiting
    message = capsys.readouterr().err
    assert f"{tmp_path} is still in use after 0.3 s" in message
    assert f"kill {holder.pid}" in message

    lock = claim_data_folder(tmp_path, 0.3, Console(io.StringIO()))  # the holder is gone
    assert lock is not None and lock.held
    lock.release()


def service(name: str, code: str) -> ServiceSpec:
    return ServiceSpec(name, ("-c", code))


async def test_the_services_hold_the_instance_lock_with_up(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path / INSTANCE_LOCK_FILE)
    assert lock.try_acquire()
    plan = [service("engine", "print('ready', flush=True); import time; time.sleep(60)")]
    out = io.StringIO()
    supervisor = Supervisor(
        plan, OPTIONS, Console(out), lambda _: "BANNER", inherited_fds=(lock.fileno,)
    )
    run = asyncio.create_task(supervisor.run())
    try:
        await eventually(lambda: "engine | ready" in out.getvalue(), 10, "the service")
        lock.release()  # as if up were gone: its service still holds the folder
        other = FolderLock(tmp_path / INSTANCE_LOCK_FILE)
        assert not other.try_acquire()
        engine = supervisor.services[0].process
        assert engine is not None
        assert [holder.pid for holder in other.holders()] == [engine.pid]
    finally:
        supervisor.on_signal(signal.SIGTERM)
        await asyncio.wait_for(run, 30)
    assert other.try_acquire()
    other.release()


async def test_an_engine_locked_out_of_its_folder_stops_up_without_restarts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = [
        service("engine", f"import sys; print('folder held', flush=True); sys.exit({EXIT_LOCKED})")
    ]
    supervisor = Supervisor(plan, OPTIONS, Console(io.StringIO()), lambda _: "BANNER")

    assert await asyncio.wait_for(supervisor.run(), 30) == 1
    assert supervisor.services[0].starts == 1
    message = capsys.readouterr().err
    assert "engine found its data folder in use by an engine this up did not start" in message
    assert "engine | folder held" in message
