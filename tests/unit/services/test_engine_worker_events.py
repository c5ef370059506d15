"""The engine service's account events sink: every numbered event reaches the log once
per (user, seq), in order, outside the loop; a snapshot never commits ahead of the log
(a failed write holds the snapshot back until it succeeds), and a restart that replays the
stream writes again only what was missing."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from tests.support.slow_store import SlowFirstSaveStore
from tests.support.stack import eventually
from tradepro.bus.base import entry_order
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.db.account_events import EventRow
from tradepro.db.bulk import Pacer
from tradepro.domain.order_ids import new_order_id
from tradepro.engine import EngineConfig
from tradepro.engine.changes import ChangeSet
from tradepro.services.engine.worker import EngineWorker


class EventLogStore(SlowFirstSaveStore):
    """Keeps the events and, per save, how many events the log held when it committed;
    ``failures`` event writes fail first."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.log: dict[tuple[str, int], EventRow] = {}
        self.writes = 0
        self.failures = failures
        self.saved_with: list[tuple[str, int]] = []

    async def record_events(self, rows: Sequence[EventRow]) -> None:
        self.writes += 1
        if self.failures:
            self.failures -= 1
            raise OSError("the database is down")
        for row in rows:
            self.log.setdefault((row.user_id, row.seq), row)

    async def save(
        self,
        header: dict[str, Any],
        changes: Sequence[ChangeSet],
        last_entry_id: str,
        *,
        pacer: Pacer | None = None,
    ) -> None:
        self.saved_with.append((last_entry_id, len(self.log)))


async def trade(bus: SqliteBus, users: list[str], orders: int) -> None:
    rng = random.Random(3)
    await bus.publish("price-update", {"asset": "BTC_USDC", "bid": "100000.0", "ask": "100000.5"},
                      str(uuid.uuid4()))  # fmt: skip
    for n in range(orders):
        order_id = new_order_id(int(time.time() * 1000), n)
        user = rng.choice(users)
        payload = {"userId": user, "asset": "BTC_USDC", "side": "buy", "qty": "0.001",
                   "leverage": 5}  # fmt: skip
        await bus.publish("create-order", payload, order_id)
        await bus.publish("close-order", {"userId": user, "orderId": order_id}, str(uuid.uuid4()))


async def test_events_reach_the_log_once_in_order_and_before_any_snapshot(tmp_path: Path) -> None:
    bus = SqliteBus(tmp_path / "bus.db")
    store = EventLogStore(failures=3)
    worker = EngineWorker(bus, store, EngineConfig(), snapshot_interval_s=0.02, block_ms=10)
    users = [str(uuid.uuid4()) for _ in range(3)]
    for user in users:
        await bus.publish("register-user", {"userId": user}, str(uuid.uuid4()))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await trade(bus, users, 30)
        await eventually(lambda: len(store.log) == 60, 10, "60 events in the log")
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        await bus.close()
    assert store.failures == 0 and store.writes > 3  # the failed writes were retried
    for user in users:
        seqs = sorted(seq for owner, seq in store.log if owner == user)
        assert seqs == list(range(1, len(seqs) + 1))
        assert worker.engine.accounts[user].event_seq == len(seqs)
    kinds = {(row.user_id, row.seq): orjson.loads(row.payload) for row in store.log.values()}
    assert all(message["seq"] == seq for (_, seq), message in kinds.items())
    assert store.saved_with[-1][1] == 60  # the final snapshot came after all of them


async def test_a_snapshot_waits_for_the_events_it_covers(tmp_path: Path) -> None:
    bus = SqliteBus(tmp_path / "bus.db")
    store = EventLogStore(failures=10**6)  # the log cannot be written at all
    worker = EngineWorker(bus, store, EngineConfig(), snapshot_interval_s=0.02, block_ms=10)
    user = str(uuid.uuid4())
    await bus.publish("register-user", {"userId": user}, str(uuid.uuid4()))
    quote = {"asset": "BTC_USDC", "bid": "100000.0", "ask": "100000.5"}
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await eventually(lambda: bool(store.saved_with), 10, "a snapshot of the registration")
        await bus.publish("price-update", quote, str(uuid.uuid4()))
        order = {"userId": user, "asset": "BTC_USDC", "side": "buy", "qty": "0.001",
                 "leverage": 5}  # fmt: skip
        created = await bus.publish("create-order", order, new_order_id(int(time.time() * 1000), 1))
        await eventually(lambda: worker.last_entry_id == created.entry_id, 10, "the order")
        await eventually(lambda: store.writes > 5, 10, "attempts to write its event")
        await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        await bus.close()
    # No snapshot ever covered the order, whose event is not in the log.
    assert all(
        entry_order(entry_id) < entry_order(created.entry_id) for entry_id, _ in store.saved_with
    )
