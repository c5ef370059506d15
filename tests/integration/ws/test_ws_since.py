"""``since``: a client that reconnects gets exactly the order events it missed, in order,
then the live ones; across engine restarts too, on Redis and PostgreSQL and on the
embedded default. Every order event carries its ``seq``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.support.servers import free_port
from tests.support.stack import EngineProcess, eventually
from tests.support.ws import (
    JWT_SECRET,
    Inbox,
    Trader,
    WsProcess,
    create_order,
    engine_answers,
    publish_price,
    register,
)
from tradepro.bus.base import Bus
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester
from tradepro.bus.sqlite_bus import SqliteBus

pytestmark = pytest.mark.integration

MISSED = 50


def seqs(inbox: Inbox) -> list[int]:
    return [m["seq"] for m in inbox.of_type("order")]


def orders(inbox: Inbox) -> list[tuple[int, str, str]]:
    return [(m["seq"], m["event"], m["order"]["orderId"]) for m in inbox.of_type("order")]


async def trade(requester: Requester, trader: Trader, events: int) -> list[tuple[str, str]]:
    """``events`` order events (opens, and closes of every other one): what each was."""
    happened: list[tuple[str, str]] = []
    open_ids: list[str] = []
    while len(happened) < events:
        if open_ids and len(happened) % 2:
            order_id = open_ids.pop()
            reply = await requester.send_request_and_wait(
                "close-order", {"userId": trader.user_id, "orderId": order_id}
            )
            assert reply["status"] == "closed", reply
            happened.append(("closed", order_id))
        else:
            order_id = (await create_order(requester, trader))["orderId"]
            open_ids.append(order_id)
            happened.append(("created", order_id))
    return happened


async def follow(url: str, trader: Trader, since: int | None) -> Inbox:
    inbox = Inbox(await connect(f"{url}?token={trader.token}"))
    message: dict[str, Any] = {"type": "subscribe", "channels": ["orders"]}
    if since is not None:
        message["since"] = since
    await inbox.send(message)
    await inbox.first(lambda m: m["type"] == "subscriptions", "the subscription")
    return inbox


async def got(inbox: Inbox, count: int, what: str) -> None:
    await eventually(lambda: len(inbox.of_type("order")) >= count, 30, what)


async def test_a_reconnecting_client_gets_exactly_what_it_missed_then_live_events(
    ws_server: WsProcess, engine: EngineProcess, requester: Requester, bus: RedisBus
) -> None:
    await engine_answers(requester, engine)
    alice, bob = await register(requester), await register(requester)
    await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")
    first = await follow(ws_server.url, alice, None)
    before = await trade(requester, alice, 3)
    await got(first, 3, "the first events")
    assert seqs(first) == [1, 2, 3]
    await first.close()

    missed = await trade(requester, alice, MISSED)
    await trade(requester, bob, 5)  # another user's events never show
    again = await follow(ws_server.url, alice, 3)
    await got(again, MISSED, "the missed events")
    live = await trade(requester, alice, 2)
    await got(again, MISSED + 2, "the live events")
    await asyncio.sleep(0.3)  # nothing more comes (no duplicate)

    expected = [(seq, *event) for seq, event in enumerate(missed + live, start=4)]
    assert orders(again) == expected
    assert [(e, o) for _, e, o in orders(first)] == before


async def test_events_that_happen_while_the_replay_runs_are_neither_lost_nor_repeated(
    ws_server: WsProcess, engine: EngineProcess, requester: Requester, bus: RedisBus
) -> None:
    await engine_answers(requester, engine)
    alice = await register(requester)
    await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")
    await trade(requester, alice, 40)
    busy = asyncio.create_task(trade(requester, alice, 40))  # goes on during the replay
    await asyncio.sleep(0.05)
    inbox = await follow(ws_server.url, alice, 10)
    await busy
    await got(inbox, 70, "every event after seq 10")
    await asyncio.sleep(0.3)
    assert seqs(inbox) == list(range(11, 81))


async def test_missed_events_survive_engine_restarts_before_and_after_the_reconnect(
    ws_server: WsProcess, engine: EngineProcess, requester: Requester, bus: RedisBus
) -> None:
    await engine_answers(requester, engine)
    alice = await register(requester)
    await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")
    first = await follow(ws_server.url, alice, None)
    await trade(requester, alice, 2)
    await got(first, 2, "the first events")
    await first.close()

    half = await trade(requester, alice, MISSED // 2)
    engine.kill()  # between the events
    engine.start()
    await engine_answers(requester, engine)
    rest = await trade(requester, alice, MISSED // 2)
    engine.kill()  # between the events and the reconnect (perhaps before it wrote them all)
    engine.start()
    await engine_answers(requester, engine)
    again = await follow(ws_server.url, alice, 2)
    await got(again, MISSED, "the missed events")
    live = await trade(requester, alice, 2)  # the restored engine numbers on
    await got(again, MISSED + 2, "the live events")
    await asyncio.sleep(0.3)
    assert orders(again) == [(seq, *e) for seq, e in enumerate(half + rest + live, start=3)]


async def test_the_embedded_default_replays_missed_events(tmp_path: Path) -> None:
    """No Redis, no PostgreSQL: the SQLite journal and the SQLite database."""
    data_dir = tmp_path / "data"
    env = {"TRADEPRO_DATA_DIR": str(data_dir), "REDIS_URL": "", "DATABASE_URL": "",
           "JWT_SECRET": JWT_SECRET, "MAX_PRICE_AGE_S": "3600"}  # fmt: skip
    engine = EngineProcess(env, tmp_path / "engine.log")
    server = WsProcess(env, free_port(), tmp_path / "ws.log")
    engine.start()
    server.start()
    bus: Bus = SqliteBus(data_dir / "bus.db")
    requester = Requester(bus, timeout_s=10.0)
    try:
        await server.wait_healthy()
        await requester.start()
        await engine_answers(requester, engine)
        trader = await register(requester)
        await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")
        await trade(requester, trader, 1)
        missed = await trade(requester, trader, MISSED // 2)
        engine.kill()
        engine.start()
        await engine_answers(requester, engine)
        missed += await trade(requester, trader, MISSED // 2)
        inbox = await follow(server.url, trader, 1)
        await got(inbox, MISSED, "the missed events")
        live = await trade(requester, trader, 2)
        await got(inbox, MISSED + 2, "the live events")
        await asyncio.sleep(0.3)
        assert orders(inbox) == [(seq, *e) for seq, e in enumerate(missed + live, start=2)]
    finally:
        await requester.stop()
        await bus.close()
        server.close()
        engine.close()
