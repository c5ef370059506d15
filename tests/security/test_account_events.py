"""Account events as an attacker sees them: another user's events never show (REST or
ws, whatever ``since`` says), ``since`` that is negative, huge or not a number is refused
with a reason (the socket stays open), a subscription that replays cannot be opened twice,
and a revoked key's socket is closed (and its REST calls refused) even mid-replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.security.test_api_keys import bearer, make_key
from tests.security.test_sessions import ws_process
from tests.support.api import API, Session, Stack, assert_error
from tests.support.stack import eventually
from tests.support.ws import Inbox

pytestmark = pytest.mark.integration

EVENTS = f"{API}/account/events"


async def trade(stack: Stack, session: Session, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = await stack.create_order(session)
        assert response.status_code == 200, response.text
        ids.append(response.json()["orderId"])
    return ids


async def logged(stack: Stack, session: Session, count: int) -> list[dict[str, Any]]:
    async def written() -> bool:
        response = await stack.client.get(EVENTS, headers=session.auth)
        return len(response.json()["events"]) >= count

    await eventually(written, 15, "the events in the log")
    events: list[dict[str, Any]] = (await stack.client.get(EVENTS, headers=session.auth)).json()[
        "events"
    ]
    return events


async def test_another_users_events_never_appear(stack: Stack, tmp_path: Path) -> None:
    victim, attacker = await stack.sign_in(), await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100000.5")
    secret = await trade(stack, victim, 4)
    mine = await trade(stack, attacker, 1)
    await logged(stack, victim, 4)
    for since in (0, 1, 3):  # the victim's seqs, asked by the attacker
        body = (
            await stack.client.get(EVENTS, params={"since": since}, headers=attacker.auth)
        ).json()
        assert [e["order"]["orderId"] for e in body["events"]] == mine[since:]
    async with ws_process(stack, tmp_path / "ws.log") as ws:
        inbox = Inbox(await connect(f"{ws.url}?token={attacker.token}"))
        await inbox.send({"type": "subscribe", "channels": ["orders"], "since": 0})
        await inbox.first(lambda m: m["type"] == "order", "the attacker's own event")
        await trade(stack, victim, 1)
        last = await trade(stack, attacker, 1)
        await inbox.first(lambda m: m.get("order", {}).get("orderId") == last[0], "the last")
        seen = {m["order"]["orderId"] for m in inbox.of_type("order")}
        assert seen == {*mine, *last} and not seen & set(secret)
        await inbox.close()


@pytest.mark.parametrize("since", [-1, 2**63, 10**40, "5", 1.5, True, None, {"$gt": 0}, [1]])
async def test_a_bad_since_on_the_socket_is_refused_and_the_socket_stays_open(
    embedded: Stack, tmp_path: Path, since: object
) -> None:
    session = await embedded.sign_in()
    async with ws_process(embedded, tmp_path / "ws.log") as ws:
        inbox = Inbox(await connect(f"{ws.url}?token={session.token}"))
        raw = json.dumps({"type": "subscribe", "channels": ["orders"], "since": since})
        await inbox.connection.send(raw)
        reply = await inbox.first(lambda m: m["type"] in ("error", "subscriptions"), "a reply")
        if since is None:  # null is "no since": a plain subscription
            assert reply["type"] == "subscriptions"
        else:
            assert reply["type"] == "error"
            assert reply["error"] in ("invalid_message", "invalid_json")
            assert "since" in reply["message"] or reply["error"] == "invalid_json"
            assert (await inbox.subscribe("prices.BTC_USDC"))["type"] == "subscriptions"
        assert inbox.close_code is None
        await inbox.close()


async def test_replaying_twice_on_one_socket_is_refused(embedded: Stack, tmp_path: Path) -> None:
    session = await embedded.sign_in()
    async with ws_process(embedded, tmp_path / "ws.log") as ws:
        inbox = Inbox(await connect(f"{ws.url}?token={session.token}"))
        await inbox.send({"type": "subscribe", "channels": ["orders"], "since": 0})
        await inbox.first(lambda m: m["type"] == "subscriptions", "the subscription")
        await inbox.send({"type": "subscribe", "channels": ["orders"], "since": 0})
        error = await inbox.first(lambda m: m["type"] == "error", "the refusal")
        assert error["error"] == "already_subscribed"
        await inbox.close()


async def test_since_without_a_session_is_refused(embedded: Stack, tmp_path: Path) -> None:
    async with ws_process(embedded, tmp_path / "ws.log") as ws:
        inbox = Inbox(await connect(ws.url))
        await inbox.send({"type": "subscribe", "channels": ["orders"], "since": 0})
        error = await inbox.first(lambda m: m["type"] == "error", "the refusal")
        assert error["error"] == "unauthorized"
        await inbox.close()


async def test_a_revoked_keys_replaying_socket_is_closed_and_its_reads_refused(
    stack: Stack, tmp_path: Path
) -> None:
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100000.5")
    await trade(stack, session, 3)
    await logged(stack, session, 3)
    made = await make_key(stack, session, ["read"])
    key = made["key"]
    assert (await stack.client.get(EVENTS, headers=bearer(key))).status_code == 200
    async with ws_process(stack, tmp_path / "ws.log") as ws:
        inbox = Inbox(await connect(f"{ws.url}?token={key}"))
        await inbox.send({"type": "subscribe", "channels": ["orders"], "since": 0})
        await eventually(lambda: len(inbox.of_type("order")) == 3, 15, "the replay")
        revoked = await stack.client.delete(
            f"{API}/auth/api-keys/{made['id']}", headers=session.auth
        )
        assert revoked.status_code == 200, revoked.text
        assert await inbox.closed() == 4401
        await trade(stack, session, 1)
        assert len(inbox.of_type("order")) == 3  # nothing after the revocation
        again = Inbox(await connect(f"{ws.url}?token={key}"))
        assert await again.closed() == 4401
    assert_error(await stack.client.get(EVENTS, headers=bearer(key)), 401, "unauthorized")
