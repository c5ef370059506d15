"""Causal order on one connection: an order event never overtakes the quote that caused
it. The two inputs are fed in the bad order on purpose (the close before its quote), to the
pure rule, to the hub, and to the real feeds on an embedded journal."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.stack import eventually
from tests.support.ws_hub import Harness
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.config import Settings
from tradepro.services.ws.causal import CausalGate
from tradepro.services.ws.feeds import OrderFeed, PriceFeed
from tradepro.services.ws.hub import Hub

HOLD_S = 2.0


def test_an_event_waits_for_the_entry_that_caused_it() -> None:
    gate: CausalGate[str] = CausalGate(HOLD_S)
    gate.advance("4", 0.0)
    assert gate.offer("closed", "5", 0.0) == []  # its quote has not been sent yet
    assert gate.advance("4", 0.1) == []
    assert gate.advance("5", 0.2) == ["closed"]
    assert gate.held == 0 and gate.released_late == 0


def test_an_event_whose_entry_was_passed_goes_at_once() -> None:
    gate: CausalGate[str] = CausalGate(HOLD_S)
    gate.advance("1700000000000-7", 0.0)
    assert gate.offer("created", "1700000000000-3", 0.0) == ["created"]
    assert gate.offer("no entry id", None, 0.0) == ["no entry id"]
    assert gate.offer("unreadable entry id", "x-y", 0.0) == ["unreadable entry id"]


def test_events_keep_their_order_and_one_held_event_holds_the_rest() -> None:
    gate: CausalGate[str] = CausalGate(HOLD_S)
    gate.advance("10", 0.0)
    assert gate.offer("first", "12", 0.0) == []
    assert gate.offer("second", "9", 0.0) == []  # already passed, but behind "first"
    assert gate.offer("third", None, 0.0) == []
    assert gate.advance("11", 0.1) == []
    assert gate.advance("12", 0.2) == ["first", "second", "third"]


def test_no_event_is_held_longer_than_the_bound_or_dropped() -> None:
    gate: CausalGate[str] = CausalGate(HOLD_S)  # the price reader never started
    assert gate.offer("closed", "5", 10.0) == []
    assert gate.offer("created", "6", 10.5) == []
    assert gate.next_deadline_s == 10.0 + HOLD_S
    assert gate.expire(11.9) == []
    assert gate.expire(12.0) == ["closed"]
    assert gate.expire(12.5) == ["created"]
    assert gate.released_late == 2 and gate.next_deadline_s is None


async def test_the_hub_sends_the_quote_before_the_close_it_caused(harness: Any) -> None:
    hub: Hub = harness.hub
    _, mine = await harness.client("orders", "prices.SOL_USDC", user_id="alice")
    _, orders_only = await harness.client("orders", user_id="alice")
    hub.stream_passed("4")

    hub.publish_order("alice", b'{"type":"order","event":"closed"}', "5")  # read first
    assert mine.messages() == orders_only.messages() == []
    hub.publish_price("SOL_USDC", b'{"type":"price","bid":"190.00"}')  # entry 5
    hub.stream_passed("5")

    assert [m["type"] for m in mine.messages()] == ["price", "order"]
    assert [m["type"] for m in orders_only.messages()] == ["order"]


async def test_the_hub_lets_a_held_event_go_when_the_bound_is_over() -> None:
    harness = Harness()
    harness.hub = Hub(close_timeout_s=0.2, price_rate_per_s=1000.0, order_hold_max_s=0.05)
    _, mine = await harness.client("orders", user_id="alice")
    try:
        harness.hub.publish_order("alice", b'{"type":"order"}', "99")  # no reader progress
        await eventually(lambda: mine.messages() == [{"type": "order"}], 10, "the late event")
        assert harness.hub.gates[0].released_late == 1
    finally:
        await harness.stop()


async def test_the_feeds_keep_causal_order_when_the_callback_is_read_first(
    tmp_path: Path, harness: Any
) -> None:
    """The real readers on an embedded journal: the close's callback is published and read
    before its quote (entry 1 of a fresh journal) is even appended."""
    bus = SqliteBus(tmp_path / "bus.db")
    hub: Hub = harness.hub
    _, mine = await harness.client("orders", "prices.SOL_USDC", user_id="alice")
    prices = PriceFeed(bus, Settings().instruments, hub, block_ms=50)
    orders = OrderFeed(bus, hub)
    tasks = [asyncio.create_task(orders.run()), asyncio.create_task(prices.run())]
    try:
        await eventually(lambda: orders.started and prices.last_seen_id == "0", 10, "the feeds")
        closed = {"id": str(uuid.uuid4()), "status": "closed", "userId": "alice",
                  "order": {"orderId": "o-1", "reason": "take_profit"}, "entryId": "1"}  # fmt: skip
        await bus.publish_callbacks([orjson.dumps(closed)])
        read = await bus.last_callback_id()
        await eventually(lambda: orders.requester.last_seen_id == read, 10, "the close read")
        assert mine.messages() == []  # held: its quote has not been sent

        entry = await bus.publish(
            "price-update", {"asset": "SOL_USDC", "bid": "190.00", "ask": "190.01"}, "q-1"
        )
        assert entry.entry_id == "1"
        await eventually(lambda: len(mine.messages()) == 2, 10, "the quote and the close")
        assert [m["type"] for m in mine.messages()] == ["price", "order"]
        assert mine.messages()[0]["bid"] == "190.00"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.close()


@pytest.fixture
async def harness() -> Any:
    running = Harness()
    yield running
    await running.stop()


async def test_each_shards_events_wait_for_their_own_shards_stream() -> None:
    """With two engine shards an event names an entry of its shard's stream: only that
    shard's reader passing it lets it go (another shard's ids say nothing about it)."""
    harness = Harness()
    harness.hub = Hub(close_timeout_s=0.2, price_rate_per_s=1000.0, shards=2)
    _, mine = await harness.client("orders", user_id="alice")
    try:
        hub = harness.hub
        hub.stream_passed("4", 0)
        hub.stream_passed("4", 1)
        hub.publish_order("alice", b'{"type":"order","n":1}', "5", shard=1)
        hub.stream_passed("9", 0)  # shard 0 is far ahead: not the cause
        assert mine.messages() == []
        hub.stream_passed("5", 1)
        assert mine.messages() == [{"type": "order", "n": 1}]
        hub.publish_order("alice", b'{"type":"order","n":2}', "6", shard=0)  # shard 0 passed 9
        assert mine.messages()[-1] == {"type": "order", "n": 2}
        assert [gate.released_late for gate in hub.gates] == [0, 0]
    finally:
        await harness.stop()
