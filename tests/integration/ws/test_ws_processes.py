"""Several ``tradepro ws`` processes on one port (``WS_PROCESSES``): the kernel spreads the
connections over them, and each reads the bus itself, so clients on any of them get the
prices and their own order events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.support.stack import EngineProcess, eventually
from tests.support.ws import (
    Inbox,
    WsGroup,
    create_order,
    engine_answers,
    publish_price,
    register,
)
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester

pytestmark = pytest.mark.integration

CLIENTS = 24


@pytest.fixture
async def ws_pair(
    redis_env: dict[str, str], database_url: str, tmp_path: Path
) -> AsyncIterator[WsGroup]:
    env = redis_env | {"DATABASE_URL": database_url}
    async with WsGroup(env, 2, tmp_path).running() as group:
        yield group


async def test_two_processes_on_one_port_both_serve_prices_and_order_events(
    ws_pair: WsGroup, engine: EngineProcess, requester: Requester, bus: RedisBus
) -> None:
    await engine_answers(requester, engine)
    trader = await register(requester)
    inboxes = [Inbox(await connect(f"{ws_pair.url}?token={trader.token}")) for _ in range(CLIENTS)]
    for inbox in inboxes:
        assert (await inbox.subscribe("prices.BTC_USDC", "orders"))["type"] == "subscriptions"

    async def both_count_their_share() -> bool:
        bodies = await ws_pair.health_by_pid()
        return set(bodies) == ws_pair.pids and (
            sum(body["authenticated"] for body in bodies.values()) == CLIENTS
        )

    await eventually(both_count_their_share, 30, "both processes to count their clients")
    bodies = await ws_pair.health_by_pid()
    assert all(body["connections"] > 0 for body in bodies.values())  # each serves some

    await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")
    order = await create_order(requester, trader)
    for inbox in inboxes:  # every client, on whichever process: the quote and the event
        await inbox.first(lambda m: m.get("bid") == "100000.0", "the quote")
        event = await inbox.first(lambda m: m["type"] == "order", "the order event")
        assert (event["event"], event["order"]["orderId"]) == ("created", order["orderId"])
    assert all(inbox.close_code is None for inbox in inboxes)
