"""When full collections run: never while the engine trades, on a schedule in the API."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from pathlib import Path
from typing import Any

from tests.support.slow_store import SlowFirstSaveStore
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.engine import EngineConfig
from tradepro.runtime.heap import NO_FULL_COLLECTIONS, collect_on_schedule
from tradepro.services.engine.worker import EngineWorker


async def test_full_collections_wait_while_trading(tmp_path: Path) -> None:
    before = gc.get_threshold()
    bus = SqliteBus(tmp_path / "bus.db")
    worker = EngineWorker(bus, SlowFirstSaveStore(), EngineConfig(), block_ms=10)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(200):
            if gc.get_threshold()[2] == NO_FULL_COLLECTIONS:
                break
            await asyncio.sleep(0.01)
        assert gc.get_threshold() == (before[0], before[1], NO_FULL_COLLECTIONS)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        await bus.close()
    assert gc.get_threshold() == before


async def test_full_collections_come_on_schedule_only() -> None:
    before = gc.get_threshold()
    full: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(1)

    gc.callbacks.append(note)
    collecting = asyncio.create_task(collect_on_schedule(0.05))
    try:
        await asyncio.sleep(0)
        assert gc.get_threshold() == (before[0], before[1], NO_FULL_COLLECTIONS)
        for _ in range(500):  # the schedule's passes come (whatever the machine's load)
            if len(full) >= 2:
                break
            await asyncio.sleep(0.01)
        assert len(full) >= 2
    finally:
        gc.callbacks.remove(note)
        collecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collecting
    assert gc.get_threshold() == before
