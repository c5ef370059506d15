"""The fan-out: who gets which message, in what order, and what happens to a slow client.

Each client here has a hand-written fake connection: its transport records the frames
written directly, ``send`` records what the writer task sends (and can be held, like a
socket whose buffer is full), ``close`` records the close code.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from websockets.protocol import State

from tests.support.stack import eventually
from tests.support.ws_hub import Harness, order, price
from tradepro.services.ws.clients import WRITE_LIMIT_BYTES, outgoing
from tradepro.services.ws.hub import QUEUE_FULL


@pytest.fixture
async def harness() -> Any:
    running = Harness()
    yield running
    await running.stop()


async def test_prices_go_to_the_subscribers_of_that_asset_only(harness: Harness) -> None:
    _, btc = await harness.client("prices.BTC_USDC")
    _, both = await harness.client("prices.BTC_USDC", "prices.ETH_USDC")
    _, none = await harness.client()

    harness.hub.publish_price("BTC_USDC", price(1))
    harness.hub.publish_price("ETH_USDC", price(2, "ETH_USDC"))
    await eventually(lambda: len(both.received) == 2, 5, "the next price slot")

    assert [m["n"] for m in btc.messages()] == [1]
    assert [m["n"] for m in both.messages()] == [1, 2]
    assert none.messages() == []


async def test_order_events_go_to_their_owner_only(harness: Harness) -> None:
    _, alice = await harness.client("orders", user_id="alice")
    _, alice_again = await harness.client("orders", user_id="alice")
    _, bob = await harness.client("orders", user_id="bob")

    harness.hub.publish_order("alice", b'{"type":"order","n":1}')
    harness.hub.publish_order("carol", b'{"type":"order","n":2}')

    assert alice.messages() == alice_again.messages() == [{"type": "order", "n": 1}]
    assert bob.messages() == []


async def test_unsubscribed_and_departed_clients_get_nothing_more(harness: Harness) -> None:
    leaving, gone = await harness.client("prices.BTC_USDC", "orders", user_id="alice")
    staying, kept = await harness.client("prices.BTC_USDC", "prices.SOL_USDC")

    harness.hub.unsubscribe(staying, ["prices.BTC_USDC", "orders"])
    harness.hub.leave(leaving)
    harness.hub.publish_price("BTC_USDC", price(1))
    harness.hub.publish_order("alice", b"{}")
    harness.hub.publish_price("SOL_USDC", price(2, "SOL_USDC"))
    await eventually(lambda: bool(kept.received), 5, "the next price slot")

    assert gone.messages() == []
    assert [m["n"] for m in kept.messages()] == [2]
    assert staying.channels == {"prices.SOL_USDC"}
    assert harness.hub.subscribers("prices.BTC_USDC") == 0
    assert harness.hub.subscribers("orders") == 0


async def test_a_backed_up_client_gets_its_order_events_in_order(harness: Harness) -> None:
    client, peer = await harness.client("orders", user_id="alice")
    peer.writable.clear()
    peer.transport.buffered = WRITE_LIMIT_BYTES  # the socket buffer is full

    for n in range(4):  # up to the queue limit: kept, not dropped
        harness.hub.publish_order("alice", order(n))
    await eventually(lambda: client.queued == 3, 5, "the writer to hold one in send")
    peer.transport.buffered = 0
    peer.writable.set()
    harness.hub.publish_order("alice", order(4))
    await eventually(lambda: len(peer.received) == 5, 5, "the backlog")

    assert [m["n"] for m in peer.messages()] == [0, 1, 2, 3, 4]
    assert peer.close_code is None


async def test_a_client_whose_order_events_overflow_is_closed_1013_and_the_others_get_all(
    harness: Harness,
) -> None:
    slow_client, slow = await harness.client("orders", user_id="alice")
    _, fast = await harness.client("orders", user_id="alice")
    slow.writable.clear()
    slow.transport.buffered = WRITE_LIMIT_BYTES

    for n in range(20):
        harness.hub.publish_order("alice", order(n))
        await asyncio.sleep(0)
    await eventually(lambda: slow.close_code is not None, 5, "the slow client's close")

    assert slow.close_code == 1013
    assert harness.hub.closed_by_server == {QUEUE_FULL: 1}
    assert [m["n"] for m in fast.messages()] == list(range(20))
    assert slow_client.channels == set() and slow_client.queued == 0
    assert harness.hub.subscribers("orders") == 1


async def test_a_peer_that_never_completes_the_close_is_aborted(harness: Harness) -> None:
    client, peer = await harness.client()
    peer.completes_close = False

    harness.hub.close(client, 1013, "send queue overflow", QUEUE_FULL)
    harness.hub.close(client, 1013, "send queue overflow", QUEUE_FULL)  # once is enough
    assert client.closing is not None
    await client.closing

    assert peer.transport.aborted
    assert harness.hub.closed_by_server == {QUEUE_FULL: 1}


async def test_close_all_closes_every_client_with_the_code(harness: Harness) -> None:
    peers = [(await harness.client())[1] for _ in range(3)]

    await harness.hub.close_all(1001, "server shutting down")

    assert [peer.close_code for peer in peers] == [1001, 1001, 1001]


async def test_a_new_subscriber_gets_the_latest_quote_after_its_reply(harness: Harness) -> None:
    harness.hub.publish_price("BTC_USDC", price(1))
    harness.hub.publish_price("BTC_USDC", price(2))
    client, peer = await harness.client()

    added = harness.hub.subscribe(client, ["prices.BTC_USDC", "prices.ETH_USDC"])
    harness.hub.reply(client, b'{"type":"subscriptions"}')
    harness.hub.send_latest_prices(client, added)

    assert peer.messages() == [{"type": "subscriptions"}, orjson.loads(price(2))]


async def test_nothing_is_sent_to_a_connection_that_is_closing(harness: Harness) -> None:
    _, peer = await harness.client("prices.BTC_USDC")
    peer.state = State.CLOSING

    for n in range(10):
        harness.hub.publish_price("BTC_USDC", price(n))
    await eventually(lambda: harness.hub.price_slots == 2, 5, "the slot after the first")

    assert peer.received == []
    assert harness.hub.closed_by_server == {}


def test_a_frame_carries_the_payload_unmasked() -> None:
    short, long = outgoing(b'{"a":1}'), outgoing(b"x" * 300)

    assert short.frame == b"\x81\x07" + short.payload
    assert long.frame == b"\x81\x7e\x01\x2c" + long.payload
