"""The engine service end to end through real streams, on both stacks.

The worker runs in this process (so the test can look at it), the requests go through the
real bus with ``send_request_and_wait``. Redis + PostgreSQL, and the embedded default.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.stack import eventually
from tradepro.bus.base import Bus
from tradepro.bus.names import ENGINE_STREAM
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.db.migrate import upgrade
from tradepro.db.models import ExistingTrade
from tradepro.db.session import open_database
from tradepro.db.snapshot_store import SnapshotStore
from tradepro.engine import EngineConfig
from tradepro.services.engine.worker import EngineWorker

pytestmark = pytest.mark.integration


@dataclass
class Service:
    bus: Bus
    requester: Requester
    worker: EngineWorker
    inject_raw: object  # async (kind, request_id, raw payload bytes) -> None
    database: AsyncEngine


@pytest.fixture(params=["redis-postgres", "embedded"])
async def service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Service]:
    bus: Bus
    if request.param == "redis-postgres":
        redis_url: str = request.getfixturevalue("redis_url")
        namespace: str = request.getfixturevalue("bus_namespace")
        database_url: str = request.getfixturevalue("postgres_url")
        bus = RedisBus(redis_url, namespace=namespace)
        raw_client = Redis.from_url(redis_url)

        async def inject_raw(kind: str, request_id: str, payload: bytes) -> None:
            fields = {"id": request_id, "kind": kind, "payload": payload}
            await raw_client.xadd(namespace + ENGINE_STREAM, fields)  # type: ignore[arg-type]

    else:
        database_url = f"sqlite:///{tmp_path / 'tradepro.db'}"
        bus = SqliteBus(tmp_path / "bus.db")

        async def inject_raw(kind: str, request_id: str, payload: bytes) -> None:
            with sqlite3.connect(tmp_path / "bus.db") as connection:
                connection.execute(
                    "INSERT INTO engine_stream (request_id, kind, payload, ts_us) "
                    "VALUES (?, ?, ?, (SELECT last_ts_us + 1 FROM stream_clock))",
                    (request_id, kind, payload),
                )

    await upgrade(database_url)
    database = open_database(database_url)
    marker = request.node.get_closest_marker("snapshot_interval_s")
    interval_s = marker.args[0] if marker is not None else 0.1
    worker = EngineWorker(
        bus, SnapshotStore(database), EngineConfig(), snapshot_interval_s=interval_s
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    requester = Requester(bus, timeout_s=5.0)
    await requester.start()
    try:
        yield Service(bus, requester, worker, inject_raw, database)
    finally:
        await requester.stop()
        stop.set()
        await running
        await bus.close()
        if request.param == "redis-postgres":
            await raw_client.aclose()
        await database.dispose()


def new_id() -> str:
    return str(uuid.uuid4())


async def test_round_trips_and_rejections(service: Service) -> None:
    ask = service.requester.send_request_and_wait
    alice, bob = new_id(), new_id()
    registered = await ask("register-user", {"userId": alice})
    assert registered["status"] == "registered" and registered["balance"] == "5000.00"
    await ask("register-user", {"userId": bob})

    no_price = await ask("create-order", order(alice))
    assert no_price["status"] == "no_price"
    await service.bus.publish(
        "price-update", {"asset": "BTC_USDC", "bid": "100000.0", "ask": "100000.5"}, new_id()
    )
    created = await ask("create-order", order(alice, takeProfit="110000"))
    assert created["status"] == "created", created
    assert created["order"]["openPrice"] == "100000.5"
    assert created["order"]["margin"] == "100.01"
    assert created["balance"] == "4899.99"
    order_id = created["order"]["orderId"]

    too_big = await ask("create-order", order(alice, qty="10"))
    assert too_big["status"] == "insufficient_balance"
    bad = await ask("create-order", order(alice, qty="0.000001"))
    assert bad["status"] == "invalid_order" and "qty" in bad["message"]
    stolen = await ask("close-order", {"userId": bob, "orderId": order_id})
    assert stolen["status"] == "order_not_found"
    unknown = await ask("transfer-funds", {"userId": alice})
    assert unknown["status"] == "unknown_kind"

    closed = await ask("close-order", {"userId": alice, "orderId": order_id})
    assert closed["status"] == "closed"
    assert closed["order"]["closePrice"] == "100000.0"
    assert closed["order"]["pnl"] == "0.00"  # (100000.0 - 100000.5) x 0.01 = -0.005, half-even
    assert closed["order"]["reason"] == "user"
    assert closed["balance"] == "5000.00"


async def test_a_malformed_entry_is_answered_and_the_engine_goes_on(service: Service) -> None:
    request_id = new_id()
    answers: list[dict[str, object]] = []
    service.requester.subscribe(answers.append, {"invalid_request"})
    await service.inject_raw("create-order", request_id, b"{not json")  # type: ignore[operator]
    await eventually(lambda: any(a["id"] == request_id for a in answers), 10, "an error reply")
    [reply] = [a for a in answers if a["id"] == request_id]
    assert reply["status"] == "invalid_request"
    user = new_id()
    after = await service.requester.send_request_and_wait("register-user", {"userId": user})
    assert after["status"] == "registered"


async def test_snapshots_are_saved_and_the_stream_trimmed(service: Service) -> None:
    quote = {"asset": "SOL_USDC", "bid": "180.00", "ask": "180.01"}
    published = [await service.bus.publish("price-update", quote, new_id()) for _ in range(450)]
    await service.requester.send_request_and_wait("register-user", {"userId": new_id()})
    await eventually(
        lambda: service.worker.snapshot_entry_id == service.worker.last_entry_id, 10,
        "a snapshot at the last entry",
    )  # fmt: skip
    remaining = [entry.entry_id for entry in await service.bus.read_entries("0", 1000, 0)]
    # Trimmed below the snapshot's entry (Redis: whole 100-entry nodes), never at or above.
    assert remaining[-1] == service.worker.snapshot_entry_id
    assert len(remaining) < len(published)
    kept = [entry.entry_id for entry in published if entry.entry_id in set(remaining)]
    assert remaining[: len(kept)] == kept  # what is left is a suffix of the stream


def order(user_id: str, **extra: str) -> dict[str, object]:
    return {"userId": user_id, "asset": "BTC_USDC", "side": "buy", "qty": "0.01",
            "leverage": 10} | extra  # fmt: skip


@pytest.mark.snapshot_interval_s(3600)
async def test_closed_trades_are_recorded_long_before_the_next_snapshot(service: Service) -> None:
    ask = service.requester.send_request_and_wait
    user = new_id()
    await ask("register-user", {"userId": user})
    await service.bus.publish(
        "price-update", {"asset": "ETH_USDC", "bid": "3500.00", "ask": "3500.05"}, new_id()
    )
    created = await ask("create-order", order(user, asset="ETH_USDC", qty="0.5"))
    order_id = created["order"]["orderId"]
    closed = await ask("close-order", {"userId": user, "orderId": order_id})
    assert closed["status"] == "closed"
    trades = ExistingTrade.__table__

    async def recorded() -> bool:
        async with service.database.connect() as connection:
            query = select(trades.c.pnl).where(trades.c.id == order_id)
            return (
                await connection.execute(query)
            ).scalar_one_or_none() == -2  # -2.5 cents, half-even

    await eventually(recorded, 10, "the trade row")  # (3500.00 - 3500.05) x 0.5
    assert service.worker.snapshot_entry_id != service.worker.last_entry_id
