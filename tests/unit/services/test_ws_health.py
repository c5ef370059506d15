"""The WebSocket server's ``/health`` names the engine shard whose order events it cannot
read (on a Redis Cluster a shard's queue lives on one node, which may be down alone)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.stack import eventually
from tradepro.bus.base import Bus, BusUnavailableError, Callback
from tradepro.bus.shards import ShardedBus
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.services.ws.feeds import OrderFeed, PriceFeed
from tradepro.services.ws.hub import Hub
from tradepro.services.ws.metrics import GatewayCollector


class Breakable(SqliteBus):
    """An embedded bus whose callback queue can be made unreadable, as a cluster node
    that went down would make one shard's queue."""

    broken = False

    async def read_callbacks(self, after_id: str, count: int, block_ms: int) -> list[Callback]:
        if self.broken:
            raise BusUnavailableError("the node of this shard's queue is down")
        return await super().read_callbacks(after_id, count, min(block_ms, 50))


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[GatewayCollector, list[Breakable]]]:
    shards = [Breakable(tmp_path / f"shard-{n}.db") for n in range(2)]
    bus: Bus = ShardedBus(shards)
    hub = Hub(close_timeout_s=1.0, price_rate_per_s=20.0, shards=2)
    prices = PriceFeed(bus, DEFAULT_INSTRUMENTS, hub, block_ms=50)
    orders = OrderFeed(bus, hub)
    tasks = [asyncio.create_task(prices.run()), asyncio.create_task(orders.run())]
    try:
        yield GatewayCollector(hub, prices, orders, DEFAULT_INSTRUMENTS), shards
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await bus.close()


async def test_health_names_the_shard_whose_events_cannot_be_read(
    gateway: tuple[GatewayCollector, list[Breakable]],
) -> None:
    collector, shards = gateway
    await eventually(lambda: collector.bus_up, 10, "both feeds reading")
    health = collector.health()
    assert (health["status"], health["bus"]) == ("ok", True)
    assert health["shards"] == [
        {"shard": 0, "events": "reading"},
        {"shard": 1, "events": "reading"},
    ]
    assert "message" not in health

    shards[1].broken = True
    await eventually(lambda: not collector.bus_up, 10, "shard 1's reader to fail")
    health = collector.health()
    assert (health["status"], health["bus"]) == ("degraded", False)
    assert health["shards"] == [
        {"shard": 0, "events": "reading"},
        {"shard": 1, "events": "not reading"},
    ]
    assert health["message"] == (
        "the order events of shard 1 of 2 cannot be read: their users get no order events"
    )

    shards[1].broken = False
    await eventually(lambda: collector.bus_up, 10, "shard 1's reader back")
    assert collector.health()["shards"][1] == {"shard": 1, "events": "reading"}
