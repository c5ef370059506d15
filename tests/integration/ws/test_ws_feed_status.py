"""The ``feed`` message: the poller's ``feed-status`` entries reach every price subscriber
on a change (not on each heartbeat), and a new subscriber gets the latest at once.

The entries are published on ``engine-stream`` as the poller publishes them; the ws server
is the real process on Redis.
"""

from __future__ import annotations

import uuid

import pytest
from websockets.asyncio.client import connect

from tests.support.ws import Inbox, WsProcess
from tradepro.bus.redis_bus import RedisBus
from tradepro.protocol.kinds import Kind

pytestmark = pytest.mark.integration

SINCE_MS = 1_796_426_045_123  # 2026-12-04T23:14:05.123Z
DOWN = {"feed": "backpack", "state": "unreachable", "since": SINCE_MS, "error": "refused"}


async def report(bus: RedisBus, payload: object) -> None:
    await bus.publish(Kind.FEED_STATUS, payload, str(uuid.uuid4()))  # type: ignore[arg-type]


async def test_price_subscribers_hear_of_feed_changes_once_and_a_newcomer_at_once(
    ws_server: WsProcess, bus: RedisBus
) -> None:
    btc = Inbox(await connect(ws_server.url))
    orders_only = Inbox(await connect(ws_server.url))
    await btc.subscribe("prices.BTC_USDC", "prices.ETH_USDC")

    await report(bus, DOWN)
    await report(bus, DOWN)  # the heartbeat: nothing new
    await report(bus, DOWN | {"state": "LIVE", "error": "<script>"})  # malformed: dropped
    await report(bus, {"feed": "backpack", "state": "live", "since": SINCE_MS + 9000})
    await btc.first(lambda m: m.get("state") == "live", "the feed coming back")

    assert btc.of_type("feed") == [
        {
            "type": "feed",
            "feed": "backpack",
            "state": "unreachable",
            "since": "2026-12-04T23:14:05.123Z",
            "error": "refused",
        },
        {
            "type": "feed",
            "feed": "backpack",
            "state": "live",
            "since": "2026-12-04T23:14:14.123Z",
            "error": None,
        },
    ]  # once each, though subscribed to two assets
    assert orders_only.of_type("feed") == []  # not subscribed to prices: not told

    late = Inbox(await connect(ws_server.url))
    await late.subscribe("prices.SOL_USDC")
    told = await late.first(lambda m: m["type"] == "feed", "the latest feed report")
    assert told["state"] == "live"
    await late.subscribe("prices.BTC_USDC")
    assert len(late.of_type("feed")) == 2  # a new price channel: the latest again
