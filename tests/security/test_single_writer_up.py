"""A supervisor restarting ``tradepro up`` at once after a ``kill -9``: the killed
instance's services are still draining (the kernel sent them SIGTERM), and the new instance
must not run beside them. Once it was: the old api answered ``/health`` and one read, a
read then failed with a refused connection, and two engines briefly ran on one journal.

The overlap is watched, not guessed: a sampler notes any moment at which a service of the
new instance had been started while a service of the old one was still alive. The old
engine is made slow to drain (its final snapshot waits for the database, which the test
keeps busy until the new ``up`` has shown its hand), so the test does not depend on how
fast the machine happens to be. The test adopts the killed instance's orphans, as ``init``
or systemd would (see ``tests.support.up.adopting_orphans``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.support.stack import eventually
from tests.support.up import (
    SERVICES,
    SLOW_START_S,
    Up,
    adopting_orphans,
    alive,
    open_order_ids,
    place_order,
    sign_in,
)

pytestmark = pytest.mark.integration

READS = 25
UNLIMITED_READS = {"READ_LIMIT_PER_S": "10000", "READ_BURST": "10000"}
"""The journey's reads come back to back (50 of them): the per-user read limit is not what
this test is about, so it must not answer one of them 429."""
STOP_TIMEOUT = ("--stop-timeout", "20")
SAMPLE_EVERY_S = 0.005


class OverlapWatch:
    """Samples, until stopped, whether ``new`` has started a service while one of the
    ``old`` pids is still alive (checked in that order, so a hit is a real overlap)."""

    def __init__(self, old: list[int], new: Up) -> None:
        self.old = old
        self.new = new
        self.overlaps: list[str] = []
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            started = self.new.all_pids()
            if started:
                still = [pid for pid in self.old if alive(pid)]
                if still:
                    self.overlaps.append(f"new services {started} while old {still} ran")
                else:
                    return  # the old ones are gone for good: nothing more can overlap
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def stop(self) -> list[str]:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return self.overlaps


async def test_kill_9_of_up_then_an_immediate_up_never_overlaps_and_reads_succeed(
    tmp_path: Path,
) -> None:
    with adopting_orphans() as orphans:
        await replaced_at_once(tmp_path, orphans)


async def replaced_at_once(tmp_path: Path, orphans: list[int]) -> None:
    first = Up(tmp_path, args=STOP_TIMEOUT)
    second: Up | None = None
    try:
        async with httpx.AsyncClient(base_url=first.base_url) as client:
            await eventually(lambda: first.healthy(client), SLOW_START_S, "/health 200")
            auth = await sign_in(first, client)
            order = await place_order(client, auth)
        await eventually(lambda: all(first.pids(name) for name in SERVICES), 10, "all four")
        old = first.all_pids()
        orphans.extend(old)
        old_engine = first.pids("engine")[0]

        # The old engine is slow to drain: its final snapshot waits for the database, which
        # this test keeps busy until the new up has had every chance to start beside it.
        busy = sqlite3.connect(tmp_path / ".tradepro" / "tradepro.db", timeout=10)
        busy.execute("BEGIN IMMEDIATE")  # the write lock: readers go on, writers wait
        try:
            first.process.send_signal(signal.SIGKILL)  # what a crash or an OOM kill does
            first.wait()
            second = Up(
                tmp_path,
                first.api_port,
                ws_port=first.ws_port,
                args=STOP_TIMEOUT,
                env=UNLIMITED_READS,
            )
            watch = OverlapWatch(old, second)
            await eventually(
                lambda: (
                    bool(second.all_pids())
                    or "waiting until the data folder is free" in second.output
                ),
                SLOW_START_S,
                "the new up to start its services or to say what it waits for",
            )
            assert second.all_pids() == [], f"started beside the old engine:\n{second.output}"
            assert alive(old_engine), "the old engine should still be saving"
            assert f"engine (pid {old_engine})" in second.output, second.output
        finally:
            busy.rollback()  # the old engine saves its final snapshot and ends
            busy.close()

        await eventually(lambda: "TradePro is up" in second.output, SLOW_START_S, "the banner")
        assert await watch.stop() == [], second.output
        assert not [pid for pid in old if alive(pid)], second.output

        async with httpx.AsyncClient(base_url=second.base_url) as client:
            for _ in range(READS):  # the journey goes on: every read answered, nothing lost
                assert order["orderId"] in await open_order_ids(client, auth)
                balance = await client.get("/api/v1/balance/me", headers=auth)
                assert balance.status_code == 200, balance.text
            assert (await client.get("/health")).status_code == 200

        engines = second.pids("engine")
        assert len(engines) == 1 and alive(engines[0]), second.output  # never a lock failure
        second.process.send_signal(signal.SIGINT)
        assert second.wait() == 0, second.output
    finally:
        first.close()
        if second is not None:
            second.close()


async def test_an_up_beside_a_running_up_waits_says_for_whom_and_gives_up(
    tmp_path: Path,
) -> None:
    first = Up(tmp_path)
    second: Up | None = None
    try:
        async with httpx.AsyncClient(base_url=first.base_url) as client:
            await eventually(lambda: first.healthy(client), SLOW_START_S, "/health 200")
        await eventually(lambda: all(first.pids(name) for name in SERVICES), 10, "all four")

        second = Up(tmp_path, args=("--wait-previous", "3"))  # gives up after 3 s
        code = second.wait(SLOW_START_S)
        assert code == 1, second.output
        assert second.all_pids() == [], second.output  # it started nothing
        waiting = [line for line in second.stdout if "held by another tradepro up" in line]
        assert waiting, second.output
        assert f"up (pid {first.process.pid})" in waiting[0], second.output
        assert any(f"engine (pid {first.pids('engine')[0]})" in line for line in waiting)
        assert "is still in use after 3 s" in "\n".join(second.stderr), second.output

        assert first.process.poll() is None, first.output  # the first one is untouched
        first.process.send_signal(signal.SIGINT)
        assert first.wait() == 0, first.output
    finally:
        first.close()
        if second is not None:
            second.close()
