"""``tradepro ws`` end to end: real processes (the ws server, the engine), real Redis and
PostgreSQL (and once the embedded default), real WebSocket clients.

Prices are published on ``engine-stream`` as the poller would; orders go through the
engine with ``send_request_and_wait`` as the API does, so the order events are the
engine's own callbacks, including the closes it makes by itself.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import connect

from tests.support.servers import free_port
from tests.support.stack import EngineProcess
from tests.support.ws import (
    JWT_SECRET,
    Inbox,
    Trader,
    WsProcess,
    cookie_headers,
    create_order,
    engine_answers,
    publish_price,
    register,
    two_listening,
)
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.protocol.render import iso_time
from tradepro.security.tokens import LINK, SESSION, issue

pytestmark = pytest.mark.integration


def order_events(inbox: Inbox) -> list[tuple[str, str, Any]]:
    """``(event, orderId, reason)`` of every order message, in arrival order."""
    return [
        (m["event"], m["order"]["orderId"], m["order"].get("reason"))
        for m in inbox.of_type("order")
    ]


async def test_prices_reach_the_subscribers_of_each_asset_with_health_and_metrics_alongside(
    ws_server: WsProcess, bus: RedisBus
) -> None:
    btc = Inbox(await connect(ws_server.url))
    both = Inbox(await connect(ws_server.url))
    assert await btc.subscribe("prices.BTC_USDC") == {
        "type": "subscriptions", "channels": ["prices.BTC_USDC"]
    }  # fmt: skip
    await both.subscribe("prices.BTC_USDC", "prices.ETH_USDC")

    first = await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")
    await publish_price(bus, "ETH_USDC", "3500.01", "3500.04", simulated=True)
    await publish_price(bus, "DOGE_USDC", "1", "2")  # not an asset here: not passed on
    await publish_price(bus, "BTC_USDC", "100001.0", "100000.0")  # crossed: refused
    await publish_price(bus, "BTC_USDC", "100002.0", "100002.1")
    await both.first(lambda m: m.get("bid") == "100002.0", "the last BTC price")
    await btc.first(lambda m: m.get("bid") == "100002.0", "the last BTC price")

    assert btc.of_type("price")[0] == {
        "type": "price",
        "asset": "BTC_USDC",
        "bid": "100000.0",
        "ask": "100000.5",
        "mid": "100000.25",
        "spread": "0.5",
        "ts": iso_time(first.ts_us),
        "simulated": False,
    }
    assert [m["bid"] for m in btc.of_type("price")] == ["100000.0", "100002.0"]
    by_asset = sorted(both.of_type("price"), key=lambda m: str(m["asset"]))  # stable
    assert [(m["asset"], m["mid"], m["simulated"]) for m in by_asset] == [
        ("BTC_USDC", "100000.25", False),
        ("BTC_USDC", "100002.05", False),
        ("ETH_USDC", "3500.025", True),
    ]  # a slot carries each changed asset's latest quote, in the order of their names
    assert await ws_server.metric("tradepro_ws_price_updates_ignored_total") == 2
    status, health = await ws_server.get("/health")  # plain HTTP on the same port
    assert status == 200 and b'"status":"ok"' in health and b'"connections":2' in health
    assert await ws_server.metric("tradepro_ws_subscriptions", channel="prices.BTC_USDC") == 2
    sent = await ws_server.metric("tradepro_ws_messages_sent_total")
    assert sent == (1 + 2) + (1 + 3)  # each client: its subscriptions reply, then its prices
    assert (await ws_server.get("/elsewhere"))[0] == 404

    late = Inbox(await connect(ws_server.url))
    await late.subscribe("prices.ETH_USDC")  # the latest quote comes at once
    quote = await late.first(lambda m: m["type"] == "price", "the latest ETH quote")
    assert (quote["bid"], quote["ask"]) == ("3500.01", "3500.04")


async def test_each_user_gets_their_own_order_events_and_never_another_users(
    ws_server: WsProcess, engine: EngineProcess, requester: Requester, bus: RedisBus
) -> None:
    await engine_answers(requester, engine)
    alice, bob, carol = [await register(requester) for _ in range(3)]
    # Three ways to authenticate: the cookie, ?token=, and a first "auth" message.
    alice_in = Inbox(await connect(ws_server.url, additional_headers=cookie_headers(alice.token)))
    bob_in = Inbox(await connect(f"{ws_server.url}?token={bob.token}"))
    carol_in = Inbox(await connect(ws_server.url))
    await carol_in.send({"type": "auth", "token": carol.token})
    assert await carol_in.first(lambda m: True, "the auth reply") == {
        "type": "authenticated", "userId": carol.user_id
    }  # fmt: skip
    spectator = Inbox(await connect(ws_server.url))
    for inbox in (alice_in, bob_in, carol_in):
        assert (await inbox.subscribe("orders", "prices.BTC_USDC"))["type"] == "subscriptions"
    await spectator.subscribe("prices.BTC_USDC")

    await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")
    take_profit = await create_order(requester, alice, takeProfit="101000.0")
    margin_call = await create_order(requester, bob, leverage=100)
    by_hand = await create_order(requester, alice)
    closed = await requester.send_request_and_wait(
        "close-order", {"userId": alice.user_id, "orderId": by_hand["orderId"]}
    )
    assert closed["status"] == "closed"
    await publish_price(bus, "BTC_USDC", "101000.0", "101000.5")  # alice's take-profit
    await publish_price(bus, "BTC_USDC", "98000.0", "98000.5")  # bob's margin call
    # A last order each: callbacks are fanned out in stream order, so once a user has their
    # last one, anything sent their way before it has arrived too.
    last = {t.user_id: (await create_order(requester, t))["orderId"] for t in (alice, bob, carol)}
    for trader, inbox in ((alice, alice_in), (bob, bob_in), (carol, carol_in)):
        await inbox.first(
            lambda m, t=trader: m["type"] == "order" and m["order"]["orderId"] == last[t.user_id],
            f"{trader.email}'s last order",
        )

    assert order_events(alice_in) == [
        ("created", take_profit["orderId"], None),
        ("created", by_hand["orderId"], None),
        ("closed", by_hand["orderId"], "user"),
        ("closed", take_profit["orderId"], "take_profit"),
        ("created", last[alice.user_id], None),
    ]
    assert order_events(bob_in) == [
        ("created", margin_call["orderId"], None),
        ("closed", margin_call["orderId"], "margin_call"),
        ("created", last[bob.user_id], None),
    ]
    assert order_events(carol_in) == [("created", last[carol.user_id], None)]
    assert spectator.of_type("order") == []

    created = alice_in.of_type("order")[0]["order"]
    assert created == take_profit  # the REST shape, as create-order returns it
    tp_close = alice_in.of_type("order")[3]["order"]
    assert (tp_close["closePrice"], tp_close["pnl"], tp_close["liquidated"]) == (
        "101000.0", "10.00", False  # (101000.0 - 100000.5) x 0.01 = 9.995 -> half-even
    )  # fmt: skip
    liquidation = bob_in.of_type("order")[1]["order"]
    assert liquidation["liquidated"] is True and liquidation["closePrice"] == "98000.0"
    # (98000.0 - 100000.5) x 0.01 = -20.005, but a trader never loses more than the margin
    assert liquidation["pnl"] == "-" + margin_call["margin"] == "-10.01"
    assert await ws_server.metric("tradepro_ws_authenticated_connections") == 3


def tokens_that_are_refused(trader: Trader) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": trader.user_id, "typ": "session", "jti": "j", "iat": now - 60}
    return {
        "expired": jwt.encode(claims | {"exp": now - 1}, JWT_SECRET, algorithm="HS256"),
        "sign-in link": issue(JWT_SECRET, LINK, trader.user_id, trader.email, 600)[0],
        "other secret": jwt.encode(claims | {"exp": now + 600}, "x" * 40, algorithm="HS256"),
        "alg none": jwt.encode(claims | {"exp": now + 600}, None, algorithm="none"),
        "garbage": "not.a.token",
    }


async def test_a_bad_token_closes_the_connection_with_4401(ws_server: WsProcess) -> None:
    trader = Trader(str(uuid.uuid4()))
    short_lived = issue(JWT_SECRET, SESSION, trader.user_id, trader.email, 2)[0]
    expiring = Inbox(await connect(f"{ws_server.url}?token={short_lived}"))
    assert (await expiring.subscribe("orders"))["channels"] == ["orders"]
    for name, token in tokens_that_are_refused(trader).items():
        by_cookie = Inbox(await connect(ws_server.url, additional_headers=cookie_headers(token)))
        by_query = Inbox(await connect(f"{ws_server.url}?token={token}"))
        by_message = Inbox(await connect(ws_server.url))
        await by_message.send({"type": "auth", "token": token})

        for how, inbox in (("cookie", by_cookie), ("query", by_query), ("message", by_message)):
            assert await inbox.closed() == 4401, f"{name} token by {how}"
            assert inbox.of_type("authenticated") == []
    assert await ws_server.metric("tradepro_ws_closed_by_server_total", reason="bad_token") == 15
    assert await expiring.closed() == 4401  # when its session expired, not before
    assert await ws_server.metric("tradepro_ws_closed_by_server_total", reason="token_expired") == 1


async def test_bad_requests_get_an_error_and_the_socket_stays_open(
    ws_server: WsProcess, bus: RedisBus
) -> None:
    client = Inbox(await connect(ws_server.url))
    requests: list[tuple[object, str]] = [
        ("{not json", "invalid_json"),
        ({"type": "trade"}, "unknown_type"),
        ({"channels": ["orders"]}, "invalid_message"),
        ({"type": "subscribe", "channels": ["trades"]}, "unknown_channel"),
        ({"type": "subscribe", "channels": ["prices.DOGE_USDC"]}, "unknown_asset"),
        ({"type": "subscribe", "channels": ["orders", "prices.BTC_USDC"]}, "unauthorized"),
        ({"type": "auth", "token": ""}, "invalid_message"),
        (b'{"type":"subscribe","channels":["orders"]}', "invalid_message"),  # binary frame
    ]
    for request, _ in requests:
        if isinstance(request, str | bytes):
            await client.connection.send(request)
        else:
            await client.send(request)
    await client.first(lambda _: len(client.messages) == len(requests), "an error for each")

    assert [(m["type"], m["error"]) for m in client.messages] == [
        ("error", error) for _, error in requests
    ]
    assert all(m["message"] for m in client.messages)
    assert await client.subscribe("prices.SOL_USDC") == {
        "type": "subscriptions", "channels": ["prices.SOL_USDC"]
    }  # fmt: skip
    await publish_price(bus, "SOL_USDC", "180.00", "180.01")
    price = await client.first(lambda m: m["type"] == "price", "a price after the errors")
    assert price["mid"] == "180.005"
    assert await client.send({"type": "unsubscribe", "channels": ["prices.SOL_USDC"]}) is None
    await client.first(lambda m: m == {"type": "subscriptions", "channels": []}, "unsubscribed")
    assert client.close_code is None

    signed_in = Inbox(await connect(f"{ws_server.url}?token={Trader(str(uuid.uuid4())).token}"))
    await signed_in.send({"type": "auth", "token": Trader(str(uuid.uuid4())).token})
    again = await signed_in.first(lambda m: m["type"] == "error", "the second auth refused")
    assert again["error"] == "already_authenticated" and signed_in.close_code is None
    too_big = Inbox(await connect(ws_server.url))
    await too_big.send({"type": "auth", "token": "x" * 20_000})
    assert await too_big.closed() == 1009  # message too big: the limit is 16 KiB


async def test_the_embedded_default_serves_prices_and_own_order_events(tmp_path: Path) -> None:
    """No Redis, no PostgreSQL: engine and ws server share the SQLite journal."""
    data_dir = tmp_path / "data"
    env = {"TRADEPRO_DATA_DIR": str(data_dir), "REDIS_URL": "", "DATABASE_URL": "",
           "JWT_SECRET": JWT_SECRET, "MAX_PRICE_AGE_S": "3600"}  # fmt: skip
    engine = EngineProcess(env, tmp_path / "engine.log")
    server = WsProcess(env, free_port(), tmp_path / "ws.log")
    engine.start()
    server.start()
    bus = SqliteBus(data_dir / "bus.db")
    requester = Requester(bus, timeout_s=10.0)
    try:
        await server.wait_healthy()
        await requester.start()
        await engine_answers(requester, engine)
        trader, other = await register(requester), await register(requester)
        mine = Inbox(await connect(f"{server.url}?token={trader.token}"))
        theirs = Inbox(await connect(f"{server.url}?token={other.token}"))
        await mine.subscribe("orders", "prices.SOL_USDC")
        await theirs.subscribe("orders")

        await publish_price(bus, "SOL_USDC", "180.00", "180.02")
        order = await create_order(
            requester, trader, asset="SOL_USDC", qty="1", leverage=5, takeProfit="190.00"
        )
        await publish_price(bus, "SOL_USDC", "190.00", "190.01")
        # Two readers deliver these: wait for both, then check the order the server promises
        # (the quote that closed the position reaches the client before the close).
        closed = await mine.first(lambda m: m.get("event") == "closed", "the take-profit close")
        quote = await mine.first(lambda m: m.get("bid") == "190.00", "the quote that closed it")

        assert mine.messages.index(quote) < mine.messages.index(closed)
        assert [m["bid"] for m in mine.of_type("price")] == ["180.00", "190.00"]
        assert order_events(mine) == [
            ("created", order["orderId"], None), ("closed", order["orderId"], "take_profit")
        ]  # fmt: skip
        assert closed["order"]["pnl"] == "9.98"
        last = (await create_order(requester, other, asset="SOL_USDC", qty="1"))["orderId"]
        await theirs.first(lambda m: m.get("type") == "order", "the other user's own order")
        assert order_events(theirs) == [("created", last, None)]
    finally:
        await requester.stop()
        await bus.close()
        server.close()
        engine.close()


async def test_pending_order_events_reach_their_owner_only(
    ws_server: WsProcess, engine: EngineProcess, requester: Requester, bus: RedisBus
) -> None:
    two = await two_listening(ws_server, engine, requester, bus)
    alice, bob, alice_in, bob_in, ask = two.alice, two.bob, two.alice_in, two.bob_in, two.ask

    order = {"asset": "BTC_USDC", "side": "buy", "qty": "0.01000", "leverage": 10}
    limit = await ask("create-order", "placed", **order, type="limit", limitPrice="99000.0")
    stop = await ask("create-order", "placed", **order, type="stop", stopPrice="102000.0")
    expiring_at_us = time.time_ns() // 1000 + 300_000
    expiring = await ask("create-order", "placed", **order, type="limit", limitPrice="90000.0",
                         expiresUs=expiring_at_us)  # fmt: skip
    limit_id, stop_id = limit["order"]["orderId"], stop["order"]["orderId"]
    await ask("amend-order", "amended", orderId=limit_id, asset="BTC_USDC", limitPrice="99500.0")
    await ask("cancel-order", "canceled", orderId=stop_id)
    # Its time passes (entry times have milliseconds: wait a few more); the next input
    # expires it.
    while time.time_ns() // 1000 <= expiring_at_us + 5_000:
        await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")
    await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")
    await publish_price(bus, "BTC_USDC", "99400.0", "99400.5")  # fills the amended limit
    last = await create_order(requester, alice)
    bobs_last = await create_order(requester, bob)
    await alice_in.first(
        lambda m: m["type"] == "order" and m["order"]["orderId"] == last["orderId"], "alice's last"
    )
    await bob_in.first(
        lambda m: m["type"] == "order" and m["order"]["orderId"] == bobs_last["orderId"], "bob's"
    )
    expiring_id = expiring["order"]["orderId"]
    assert order_events(alice_in) == [
        ("placed", limit_id, None),
        ("placed", stop_id, None),
        ("placed", expiring_id, None),
        ("amended", limit_id, None),
        ("canceled", stop_id, "user"),
        ("expired", expiring_id, "expired"),
        ("filled", limit_id, "filled"),
        ("created", last["orderId"], None),
    ]
    assert order_events(bob_in) == [("created", bobs_last["orderId"], None)]
    messages = alice_in.of_type("order")
    assert messages[0]["order"] == limit["order"]  # the REST shape, as create-order returns it
    filled = messages[6]
    assert filled["order"]["fillPrice"] == "99400.5"
    assert filled["position"]["orderId"] == limit_id
    assert filled["position"]["openPrice"] == "99400.5"
