"""Periodic snapshot saves are paced; one that follows a late save, and the final one, not
(a paced save still running at shutdown is hurried)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from tests.support.slow_store import SlowFirstSaveStore
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.db.bulk import Pacer
from tradepro.engine import EngineConfig
from tradepro.services.engine.worker import SAVE_PACE, EngineWorker


async def test_saves_are_paced_unless_behind_or_final(tmp_path: Path) -> None:
    bus = SqliteBus(tmp_path / "bus.db")
    store = SlowFirstSaveStore()
    worker = EngineWorker(bus, store, EngineConfig(), snapshot_interval_s=0.05, block_ms=10)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(20):  # something new for every save window
            await bus.publish("register-user", {"userId": str(uuid.uuid4())}, str(uuid.uuid4()))
            await asyncio.sleep(0.03)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        await bus.close()
    first, second, *_, final = store.pacers
    assert first is not None and first.ratio == SAVE_PACE
    assert second is None  # the first was still running when the next fell due
    # The last save is either the final one (unpaced) or a periodic one that was still
    # running when the stop came: that one is told to stop resting.
    assert final is None or final.hurried


async def test_a_pacer_rests_in_proportion_until_its_budget_is_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rests: list[float] = []
    real_sleep = asyncio.sleep

    async def noted_sleep(seconds: float) -> None:
        rests.append(seconds)
        await real_sleep(0)

    pacer = Pacer(3.0, budget_s=0.2)
    monkeypatch.setattr(asyncio, "sleep", noted_sleep)
    await pacer.rest(0.01)
    pacer.deadline -= 1.0  # the budget is spent: the rest goes at full speed
    await pacer.rest(0.01)
    assert rests == [pytest.approx(0.03)]
