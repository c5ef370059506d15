"""Conflated quotes: each client gets the latest quote per asset, at most
``price_rate_per_s`` a second, never a backlog; order events are never conflated.

The clients are the fake connections of ``tests.support.ws_hub``: a transport that records
the frames written directly, a ``send`` that can be held like a socket whose buffer is full.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.stack import eventually
from tests.support.ws_hub import Harness, order, price
from tradepro.services.ws.clients import WRITE_LIMIT_BYTES
from tradepro.services.ws.hub import QUEUE_FULL

RATE_PER_S = 20.0


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    running = Harness(queue_limit=4, price_rate_per_s=RATE_PER_S)
    yield running
    await running.stop()


async def test_a_quote_after_a_quiet_spell_goes_out_at_once(harness: Harness) -> None:
    _, peer = await harness.client("prices.BTC_USDC")

    harness.hub.publish_price("BTC_USDC", price(1))

    assert [m["n"] for m in peer.messages()] == [1]  # written in the call: no slot to wait


async def test_a_burst_costs_one_slot_that_carries_only_the_latest_quote(
    harness: Harness,
) -> None:
    _, peer = await harness.client("prices.BTC_USDC")

    for n in range(500):
        harness.hub.publish_price("BTC_USDC", price(n))
    await eventually(lambda: harness.hub.price_slots == 2, 5, "the slot after the burst")

    assert [m["n"] for m in peer.messages()] == [0, 499]
    assert harness.hub.price_updates == 500


async def test_a_slot_sends_each_changed_asset_once_in_one_write_shared_by_alike_clients(
    harness: Harness,
) -> None:
    _, first = await harness.client("prices.BTC_USDC", "prices.ETH_USDC", "prices.SOL_USDC")
    _, second = await harness.client("prices.BTC_USDC", "prices.ETH_USDC", "prices.SOL_USDC")
    _, sol_only = await harness.client("prices.SOL_USDC")
    harness.hub.publish_price("SOL_USDC", price(0, "SOL_USDC"))  # the leading edge

    for n in range(1, 30):
        harness.hub.publish_price(("BTC_USDC", "ETH_USDC", "SOL_USDC")[n % 3], price(n))
    await eventually(lambda: harness.hub.price_slots == 2, 5, "the slot after the burst")

    assert [m["n"] for m in first.messages()] == [0, 27, 28, 29]  # BTC, ETH, SOL: sorted
    assert second.received == first.received
    assert [m["n"] for m in sol_only.messages()] == [0, 29]
    assert first.transport.writes == 2  # one per slot, whatever the number of assets


async def test_slots_are_never_closer_than_the_rate_allows(harness: Harness) -> None:
    """A steady feed ten times faster than the rate: one quote per slot, slots spaced by
    at least ``1 / rate`` on the loop's clock (never a count of elapsed wall time)."""
    loop = asyncio.get_running_loop()
    _, peer = await harness.client("prices.BTC_USDC")
    slot_times: list[float] = []
    write = peer.transport.write

    def timed_write(data: bytes | bytearray | memoryview) -> None:
        slot_times.append(loop.time())
        write(data)

    peer.transport.write = timed_write  # type: ignore[method-assign]
    for n in range(60):
        harness.hub.publish_price("BTC_USDC", price(n))
        await asyncio.sleep(0.1 / RATE_PER_S)
    await eventually(lambda: not harness.hub.quotes_waiting, 5, "the last slot")

    gaps = [later - earlier for earlier, later in itertools.pairwise(slot_times)]
    assert len(slot_times) >= 2
    assert min(gaps) >= 1.0 / RATE_PER_S - 1e-3
    numbers = [m["n"] for m in peer.messages()]
    assert numbers == sorted(numbers) and numbers[-1] == 59  # in order, ending on the latest
    assert len(numbers) == len(slot_times) == harness.hub.price_slots  # one quote per slot


async def test_a_client_that_stops_reading_gets_the_latest_quote_never_a_backlog(
    harness: Harness,
) -> None:
    client, slow = await harness.client("prices.BTC_USDC", "prices.ETH_USDC")
    _, fast = await harness.client("prices.BTC_USDC")
    slow.writable.clear()
    slow.transport.buffered = WRITE_LIMIT_BYTES  # its socket buffer is full

    for n in range(200):
        harness.hub.publish_price("BTC_USDC", price(n))
        harness.hub.publish_price("ETH_USDC", price(1000 + n, "ETH_USDC"))
        if n % 50 == 0:
            await eventually(lambda: not harness.hub.quotes_waiting, 5, "a slot")
    await eventually(lambda: not harness.hub.quotes_waiting, 5, "the last slot")

    assert client.queued == 1 and client.stale == {"BTC_USDC", "ETH_USDC"}  # a mark, no copies
    slow.transport.buffered = 0
    slow.writable.set()  # it reads again
    await eventually(lambda: client.queued == 0 and not client.stale, 5, "the latest quotes")

    # The first quote it was sent is still in its socket when it stops reading; after that
    # it gets the newest of each asset, and nothing twice.
    received = [m["n"] for m in slow.messages()]
    assert received[0] == 0 and received[-2:] in ([199, 1199], [1199, 199])
    assert len(received) <= 2 * 2
    assert slow.close_code is None and harness.hub.closed_by_server == {}
    assert fast.messages()[-1]["n"] == 199


async def test_order_events_are_never_dropped_while_quotes_are_conflated(
    harness: Harness,
) -> None:
    """A slow reader with the orders channel: every order event arrives, in order, each
    after a quote at least as new as the one published before it; quotes are conflated."""
    _, peer = await harness.client("prices.BTC_USDC", "orders", user_id="alice")
    peer.writable.clear()
    peer.transport.buffered = WRITE_LIMIT_BYTES

    published = 0
    for event in range(3):  # within the outbox (4): the order path is bounded, not conflated
        for _ in range(100):
            harness.hub.publish_price("BTC_USDC", price(published))
            published += 1
        harness.hub.publish_order("alice", order(event))
        await eventually(lambda: not harness.hub.quotes_waiting, 5, "the slot")
    peer.transport.buffered = 0
    peer.writable.set()
    await eventually(
        lambda: sum(m["type"] == "order" for m in peer.messages()) == 3, 5, "the events"
    )
    await eventually(
        lambda: {"type": "price", "asset": "BTC_USDC", "n": published - 1} in peer.messages(),
        5,
        "the last quote",
    )

    messages = peer.messages()
    assert [m["n"] for m in messages if m["type"] == "order"] == [0, 1, 2]
    for position, message in enumerate(messages):
        if message["type"] == "order":
            newest_before = max(m["n"] for m in messages[:position] if m["type"] == "price")
            assert newest_before >= 100 * message["n"] + 99
    assert sum(m["type"] == "price" for m in messages) <= 2 * 3 + 1
    assert peer.close_code is None


async def test_an_order_event_released_before_its_quotes_slot_goes_right_after_it(
    harness: Harness,
) -> None:
    _, peer = await harness.client("prices.BTC_USDC", "orders", user_id="alice")
    harness.hub.publish_price("BTC_USDC", price(1))  # the leading edge: the slot is used
    harness.hub.publish_price("BTC_USDC", price(2))  # waits for the next slot

    harness.hub.publish_order("alice", order(7))  # its quote (2) has not gone out yet
    assert [m["n"] for m in peer.messages()] == [1]
    await eventually(lambda: len(peer.received) == 3, 5, "the slot")

    assert [(m["type"], m["n"]) for m in peer.messages()] == [
        ("price", 1), ("price", 2), ("order", 7)
    ]  # fmt: skip


async def test_a_slot_that_takes_long_spaces_out_the_next(harness: Harness) -> None:
    """Slots keep at least half the process's time free: after a slot that took ``t``,
    the next comes ``2 t`` later at the soonest (here ``t`` >= 20 ms of slow writes)."""
    peers = [(await harness.client("prices.BTC_USDC"))[1] for _ in range(10)]
    for peer in peers:
        write = peer.transport.write

        def slow_write(data: bytes | bytearray | memoryview, write: Any = write) -> None:
            time.sleep(0.002)  # a write that costs 2 ms (a saturated machine)
            write(data)

        peer.transport.write = slow_write  # type: ignore[method-assign]

    harness.hub.publish_price("BTC_USDC", price(1))

    assert harness.hub.price_gap_s >= 2 * 10 * 0.002
    harness.hub.publish_price("BTC_USDC", price(2))
    await eventually(lambda: not harness.hub.quotes_waiting, 5, "the next slot")
    assert all([m["n"] for m in peer.messages()] == [1, 2] for peer in peers)


async def test_a_slot_follows_each_clients_subscriptions_as_they_change(
    harness: Harness,
) -> None:
    """The hub keeps clients grouped by the assets they follow: subscribing, unsubscribing
    and being closed move a client between groups, and each slot writes to each client the
    quotes of exactly its assets, never to a client that is gone."""
    moving, peer = await harness.client("prices.BTC_USDC", "prices.ETH_USDC")
    _, alike = await harness.client("prices.BTC_USDC", "prices.ETH_USDC")
    closed, gone = await harness.client("prices.BTC_USDC", "prices.ETH_USDC")
    assets = ("BTC_USDC", "ETH_USDC", "SOL_USDC")

    async def slot(first: int) -> None:
        slots = harness.hub.price_slots
        for n, asset in enumerate(assets, start=first):
            harness.hub.publish_price(asset, price(n, asset))
        await eventually(lambda: not harness.hub.quotes_waiting, 5, "the slot")
        assert harness.hub.price_slots > slots

    await slot(0)
    harness.hub.unsubscribe(moving, ["prices.ETH_USDC"])
    harness.hub.close(closed, 1013, "send queue overflow", QUEUE_FULL)
    await slot(10)
    harness.hub.subscribe(moving, ["prices.SOL_USDC", "prices.ETH_USDC"])
    await slot(20)

    assert [(m["asset"], m["n"]) for m in peer.messages()] == [
        ("BTC_USDC", 0), ("ETH_USDC", 1),  # SOL: not followed
        ("BTC_USDC", 10),  # ETH left
        ("BTC_USDC", 20), ("ETH_USDC", 21), ("SOL_USDC", 22),  # three now: sorted
    ]  # fmt: skip
    assert [(m["asset"], m["n"]) for m in alike.messages()] == [
        ("BTC_USDC", 0), ("ETH_USDC", 1), ("BTC_USDC", 10), ("ETH_USDC", 11),
        ("BTC_USDC", 20), ("ETH_USDC", 21),
    ]  # fmt: skip
    assert [m["n"] for m in gone.messages()] == [0, 1]  # nothing after it was closed
