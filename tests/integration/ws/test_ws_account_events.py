"""Reset and deposit on the ws ``orders`` channel (real ws server and engine processes,
Redis and PostgreSQL): the owner gets an ``account`` message for each, after the
``closed`` and ``canceled`` order messages of what a reset closed; nobody else does.
Each is numbered in the owner's ``seq`` like the order events, so a client that comes
back with ``since`` gets the same messages again."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from tests.support.stack import EngineProcess
from tests.support.ws import Inbox, WsProcess, create_order, two_listening
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester

pytestmark = pytest.mark.integration


async def test_account_events_reach_their_owner_after_what_the_reset_closed(
    ws_server: WsProcess, engine: EngineProcess, requester: Requester, bus: RedisBus
) -> None:
    two = await two_listening(ws_server, engine, requester, bus)
    alice, bob, alice_in, bob_in, ask = two.alice, two.bob, two.alice_in, two.bob_in, two.ask

    opened = await create_order(requester, alice)
    order = {"asset": "BTC_USDC", "side": "buy", "qty": "0.01000", "leverage": 10}
    placed = await ask("create-order", "placed", **order, type="limit", limitPrice="90000.0")
    await ask("deposit", "deposit", amount="1234.56")
    await ask("reset-account", "reset", balance="2500.00")
    bobs = await create_order(requester, bob)
    await bob_in.first(lambda m: m.get("order", {}).get("orderId") == bobs["orderId"], "bob's")
    messages = await alice_in.first(
        lambda m: m["type"] == "account" and m["event"] == "reset", "the reset"
    )
    assert messages["balance"] == "2500.00" and (messages["closed"], messages["canceled"]) == (1, 1)
    seen = [
        (m["type"], m.get("event"), (m.get("order") or {}).get("orderId"))
        for m in alice_in.messages
        if m["type"] in ("order", "account")
    ]
    assert seen == [
        ("order", "created", opened["orderId"]),
        ("order", "placed", placed["order"]["orderId"]),
        ("account", "deposit", None),
        ("order", "closed", opened["orderId"]),
        ("order", "canceled", placed["order"]["orderId"]),
        ("account", "reset", None),
    ]
    [deposit] = [m for m in alice_in.messages if m.get("event") == "deposit"]
    assert (deposit["amount"], deposit["depositAllowance"]) == ("1234.56", "98765.44")
    assert set(deposit) == {"type", "event", "seq", "balance", "amount", "at", "depositAllowance"}
    closed = next(m for m in alice_in.messages if m.get("event") == "closed")
    assert closed["order"]["reason"] == "reset"
    assert not [m for m in bob_in.messages if m["type"] == "account"]
    live = [m for m in alice_in.messages if m["type"] in ("order", "account")]
    assert [m["seq"] for m in live] == [1, 2, 3, 4, 5, 6]  # the deposit and reset too

    # Back with since=2: the deposit, the closes and the reset again, exactly as sent live.
    again = Inbox(await connect(f"{ws_server.url}?token={alice.token}"))
    await again.send({"type": "subscribe", "channels": ["orders"], "since": 2})
    await again.first(lambda m: m.get("event") == "reset", "the replayed reset")
    await asyncio.sleep(0.3)  # nothing more comes (no duplicate)
    assert [m for m in again.messages if m["type"] in ("order", "account")] == live[2:]
    await again.close()
