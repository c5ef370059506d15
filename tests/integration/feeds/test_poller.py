"""``tradepro poller`` end to end: the fake Backpack server, the real poller and engine.

Both services run as real processes (``tradepro poller`` and ``tradepro engine``) on Redis +
PostgreSQL and on the embedded default (SQLite journal + SQLite file); the fake server
speaks Backpack's protocol on a local port. The test reads ``engine-stream`` like the
engine does, trades through ``send_request_and_wait`` and scrapes the poller's metrics.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from tests.support.fakes.backpack import FakeBackpack
from tests.support.poller import (
    EntryCollector,
    PollerProcess,
    engine_answers,
    requester_started,
    show_logs,
)
from tests.support.servers import free_port
from tests.support.stack import EngineProcess, eventually
from tradepro.bus.base import Entry
from tradepro.bus.factory import open_bus
from tradepro.bus.requests import Requester
from tradepro.db.migrate import upgrade
from tradepro.db.models import Candle
from tradepro.db.session import open_database
from tradepro.domain.fixed import format_scaled, parse_scaled
from tradepro.feeds.candles import mid_ticks

pytestmark = pytest.mark.integration

BTC = "BTC_USDC"
BURST = 2_000


@dataclass
class Stack:
    backpack: FakeBackpack
    engine: EngineProcess
    poller: PollerProcess
    requester: Requester
    entries: EntryCollector
    database_url: str
    metrics_port: int
    env: dict[str, str]

    async def ask(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.requester.send_request_and_wait(kind, payload, timeout_s=10)

    async def metric(self, name: str, **labels: str) -> float | None:
        """One sample of the poller's ``/metrics`` (None while it does not answer)."""
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                text = (await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        except httpx.HTTPError:
            return None
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return None

    async def push_until_published(self, bid: str, ask: str) -> Entry:
        """Push one BTC quote (once the poller is subscribed) and wait until it is in the
        stream; return its entry."""
        since = len(self.entries.prices)
        sent = 0

        async def published() -> bool:
            nonlocal sent
            if not sent:
                sent = await self.backpack.push_quote(BTC, bid, ask)
            return ask in self.entries.asks(BTC, since)

        await eventually(published, 20, f"BTC ask {ask} in engine-stream")
        return next(e for e in self.entries.prices[since:] if e.payload["ask"] == ask)  # type: ignore[index]

    async def buy_price(self, user_id: str) -> str:
        order = {"userId": user_id, "asset": BTC, "side": "buy", "qty": "0.01", "leverage": 10}
        reply = await self.ask("create-order", order)
        assert reply["status"] == "created", reply
        open_price: str = reply["order"]["openPrice"]
        return open_price


@pytest.fixture(params=["redis-postgres", "embedded"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    data_dir = tmp_path / "data"
    env = {
        "TRADEPRO_DATA_DIR": str(data_dir),
        "REDIS_URL": "",
        "DATABASE_URL": "",
        "ASSETS": "BTC_USDC,ETH_USDC",
        "SNAPSHOT_INTERVAL_S": "60",  # the stream is trimmed only at the engine's exit
        "MAX_PRICE_AGE_S": "60",  # held quotes stay fresh through a slow engine restart
        "LOG_LEVEL": "INFO",
    }
    if request.param == "redis-postgres":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
        env["TRADEPRO_BUS_NAMESPACE"] = request.getfixturevalue("bus_namespace")
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    database_url = env["DATABASE_URL"] or f"sqlite:///{data_dir / 'tradepro.db'}"
    backpack = await FakeBackpack().start()
    env["BACKPACK_WS_URL"] = backpack.url
    metrics_port = free_port()
    engine = EngineProcess(env, tmp_path / "engine.log")
    poller = PollerProcess(
        env,
        tmp_path / "poller.log",
        ["--metrics-port", str(metrics_port), "--status-interval", "1", "--engine-timeout", "0.5"],
    )
    data_dir.mkdir()
    bus = open_bus(
        env["REDIS_URL"] or None, data_dir, namespace=env.get("TRADEPRO_BUS_NAMESPACE", "")
    )
    requester = Requester(bus)
    entries = EntryCollector(bus)
    try:
        await upgrade(database_url)  # so that neither service migrates while the other does
        engine.start()
        poller.start()
        await eventually(lambda: requester_started(requester), 30, "the bus")
        await eventually(lambda: engine_answers(requester), 30, "the engine")
        entries.start()
        yield Stack(backpack, engine, poller, requester, entries, database_url, metrics_port, env)
        assert poller.alive(), "the poller stopped by itself"
        assert poller.terminate() == 0
    finally:
        show_logs(poller, engine)  # pytest shows them when the test fails
        poller.close()
        engine.close()
        await entries.stop()
        await requester.stop()
        await bus.close()
        await backpack.stop()


async def test_quotes_reach_the_engine_through_drops_bad_messages_and_engine_outages(
    stack: Stack,
) -> None:
    alice = str(uuid.uuid4())
    assert (await stack.ask("register-user", {"userId": alice}))["status"] == "registered"

    # A quote becomes an exact price-update entry, and an order opens at its ask.
    entry = await stack.push_until_published("100000.0", "100000.5")
    assert entry.payload == {
        "asset": BTC, "bid": "100000.0", "ask": "100000.5", "simulated": False,
    }  # fmt: skip
    assert await stack.buy_price(alice) == "100000.5"
    assert stack.backpack.subscriptions == [["bookTicker.BTC_USDC", "bookTicker.ETH_USDC"]]

    # The connection drops: the poller reconnects, resubscribes, and new quotes apply.
    assert await stack.backpack.drop_connections() == 1
    await eventually(lambda: len(stack.backpack.subscriptions) == 2, 20, "a resubscription")
    assert stack.backpack.subscriptions[1] == stack.backpack.subscriptions[0]
    await stack.push_until_published("101000.0", "101000.2")
    assert await stack.buy_price(alice) == "101000.2"
    assert await stack.metric("tradepro_poller_reconnects_total") == 1

    # Malformed, crossed and unknown-symbol messages are dropped, counted, and survived.
    before = len(stack.entries.prices)
    await stack.backpack.send_raw("{not json")
    await stack.backpack.send_raw('{"stream":"bookTicker.BTC_USDC","data":{"e":"bookTicker"}}')
    await stack.backpack.push_quote(BTC, "101000.9", "101000.1")  # crossed
    await stack.backpack.push_quote("DOGE_USDC", "0.20", "0.21", force=True)
    await stack.push_until_published("101500.0", "101500.1")
    assert stack.entries.asks(BTC, before) == ["101500.1"]
    for reason, count in (("malformed", 2), ("crossed", 1), ("unknown_symbol", 1)):
        dropped = await stack.metric("tradepro_poller_messages_dropped_total", reason=reason)
        assert dropped == count, reason
    assert await stack.buy_price(alice) == "101500.1"
    assert await stack.metric("tradepro_poller_connected") == 1
    await assert_candles_match_the_stream(stack)

    # The engine stops: quotes are held, thousands coalesce into the latest per symbol,
    # nothing is published; when the engine is back, that latest quote is applied.
    await eventually(stack.entries.caught_up, 10, "the collector to catch up")
    assert stack.engine.terminate() == 0
    await eventually(
        lambda: _equals(stack.metric("tradepro_poller_engine_holding"), 1), 20, "holding"
    )
    held_from = len(stack.entries.prices)
    received = await stack.metric("tradepro_poller_quotes_received_total", asset=BTC) or 0
    coalesced = await stack.metric("tradepro_poller_quotes_coalesced_total", asset=BTC) or 0
    asks = [format_scaled(1_000_010 + n, 1) for n in range(BURST)]
    for ask in asks:  # thousands of quotes while the engine is down
        await stack.backpack.push_quote(BTC, "100000.0", ask)
    await eventually(
        lambda: _equals(
            stack.metric("tradepro_poller_quotes_received_total", asset=BTC), received + BURST
        ),
        20,
        "the burst to reach the poller",
    )
    await eventually(stack.entries.caught_up, 10, "the collector to catch up")
    assert len(stack.entries.prices) == held_from  # nothing published while held
    now_coalesced = await stack.metric("tradepro_poller_quotes_coalesced_total", asset=BTC)
    assert now_coalesced is not None and now_coalesced >= coalesced + BURST - 1

    stack.engine.start()
    await eventually(lambda: engine_answers(stack.requester), 30, "the engine back")
    await eventually(lambda: bool(stack.entries.asks(BTC, held_from)), 20, "the held quote")
    assert stack.entries.asks(BTC, held_from)[0] == asks[-1]  # only the latest one
    assert await stack.buy_price(alice) == asks[-1]
    assert await stack.metric("tradepro_poller_engine_holding") == 0


async def _equals(value: Any, expected: float) -> bool:
    return (await value) == expected


async def assert_candles_match_the_stream(stack: Stack) -> None:
    """The candles hold exactly the quotes the poller published (the stream's entries)."""
    database = open_database(stack.database_url)
    table = Candle.__table__

    async def rows() -> list[Any]:
        async with database.connect() as connection:
            query = select(table).where(table.c.asset == BTC)
            return list((await connection.execute(query)).all())

    published = [entry.payload for entry in stack.entries.prices if entry.payload["asset"] == BTC]  # type: ignore[index]
    mids = [mid_ticks(parse_scaled(p["bid"], 1, "bid"), parse_scaled(p["ask"], 1, "ask"))  # type: ignore[index]
            for p in published]  # fmt: skip

    async def complete() -> bool:
        return sum(row.quotes for row in await rows()) == len(published)

    try:
        await eventually(complete, 20, "candles for every published quote")
        found = await rows()
    finally:
        await database.dispose()
    assert max(row.high for row in found) == max(mids)
    assert min(row.low for row in found) == min(mids)
    assert all(row.start_s % 60 == 0 and not row.simulated for row in found)
