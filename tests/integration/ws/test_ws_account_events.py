"""Reset and deposit on the ws ``orders`` channel (real ws server and engine processes,
Redis and PostgreSQL): the owner gets an ``account`` message for each, after the
``closed`` and ``canceled`` order messages of what a reset closed; nobody else does."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.support.stack import EngineProcess
from tests.support.ws import Inbox, WsProcess, create_order, engine_answers, publish_price, register
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester

pytestmark = pytest.mark.integration


async def test_account_events_reach_their_owner_after_what_the_reset_closed(
    ws_server: WsProcess, engine: EngineProcess, requester: Requester, bus: RedisBus
) -> None:
    await engine_answers(requester, engine)
    alice, bob = [await register(requester) for _ in range(2)]
    alice_in = Inbox(await connect(f"{ws_server.url}?token={alice.token}"))
    bob_in = Inbox(await connect(f"{ws_server.url}?token={bob.token}"))
    for inbox in (alice_in, bob_in):
        await inbox.subscribe("orders")
    await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")

    async def ask(kind: str, status: str, **fields: object) -> dict[str, Any]:
        reply = await requester.send_request_and_wait(kind, {"userId": alice.user_id} | fields)
        assert reply["status"] == status, reply
        return reply

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
    assert set(deposit) == {"type", "event", "balance", "amount", "at", "depositAllowance"}
    closed = next(m for m in alice_in.messages if m.get("event") == "closed")
    assert closed["order"]["reason"] == "reset"
    assert not [m for m in bob_in.messages if m["type"] == "account"]
