"""API keys: what a key may do, what it may never do, and revocation everywhere at once.

A key is a password a program keeps: it must never be readable from the database, a
``read`` key must never trade, no key may make more keys (or keep itself alive), another
user's key ids reveal nothing, and a revoked key stops working in every API process and in
the WebSocket server (its live connections closed) at once, and for good.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from websockets.asyncio.client import connect

from tests.security.test_sessions import another_api, ws_process
from tests.support.api import API, PUBLIC_URL, Session, Stack, assert_error
from tests.support.frozen_clock import HOUR_START, FrozenClock
from tests.support.stack import eventually
from tests.support.ws import Inbox
from tradepro.api.readlimit import ReadLimiter
from tradepro.db.session import open_database

pytestmark = pytest.mark.integration

KEYS = f"{API}/auth/api-keys"
WHO = f"{API}/auth/protected-route-test"
ORDER = {"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make_key(
    stack: Stack, session: Session, scopes: list[str], name: str = "bot"
) -> dict[str, Any]:
    response = await stack.client.post(
        KEYS, json={"name": name, "scopes": scopes}, headers=session.auth
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_key_is_shown_once_stored_as_a_digest_and_listed_without_it(
    stack: Stack,
) -> None:
    session = await stack.sign_in()
    made = await make_key(stack, session, ["read", "trade"], "my bot")
    key = made["key"]
    assert key.startswith("tpk_") and len(key) == 47
    assert made["prefix"] == key[:12] and made["scopes"] == ["read", "trade"]
    assert made["lastUsedAt"] is None

    listed = (await stack.client.get(KEYS, headers=session.auth)).json()["keys"]
    assert [k["id"] for k in listed] == [made["id"]]
    assert "key" not in listed[0] and key not in str(listed)
    # name, prefix, scopes, created, last used: as when it was made, less the key
    assert listed[0] == {name: value for name, value in made.items() if name != "key"}
    assert made["name"] == "my bot"
    assert datetime.fromisoformat(made["createdAt"]).utcoffset() == timedelta(0)

    database = open_database(stack.settings.effective_database_url)
    try:
        async with database.connect() as connection:
            rows = (await connection.execute(text("SELECT * FROM api_keys"))).all()
    finally:
        await database.dispose()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert key not in stored and key[12:] not in stored  # nothing past the shown prefix
    assert hashlib.sha256(key.encode()).hexdigest() in stored

    # Used: "last used" is written (to the minute).
    assert (await stack.client.get(WHO, headers=bearer(key))).json()["id"] == session.user_id
    listed = (await stack.client.get(KEYS, headers=session.auth)).json()["keys"]
    assert listed[0]["lastUsedAt"] is not None


async def test_a_trade_key_reads_and_trades_a_read_key_only_reads(embedded: Stack) -> None:
    session = await embedded.sign_in()
    trader = (await make_key(embedded, session, ["read", "trade"]))["key"]
    reader = (await make_key(embedded, session, ["read"]))["key"]
    await embedded.publish_price("BTC_USDC", "50000.0", "50010.0")

    opened = await embedded.client.post(
        f"{API}/trade/create-order", json=ORDER, headers=bearer(trader)
    )
    assert opened.status_code == 200, opened.text
    order_id = opened.json()["orderId"]
    for key in (trader, reader):
        orders = await embedded.client.get(f"{API}/trade/get-open-orders", headers=bearer(key))
        assert [o["orderId"] for o in orders.json()["orders"]] == [order_id]
        balance = await embedded.client.get(f"{API}/balance/me", headers=bearer(key))
        assert balance.status_code == 200

    refused = await embedded.client.post(
        f"{API}/trade/create-order", json=ORDER, headers=bearer(reader)
    )
    assert "may only read" in assert_error(refused, 403, "insufficient_scope")["message"]
    refused = await embedded.client.post(
        f"{API}/trade/close-order", json={"orderId": order_id}, headers=bearer(reader)
    )
    assert_error(refused, 403, "insufficient_scope")
    assert len(await embedded.open_orders(session)) == 1  # nothing happened

    closed = await embedded.client.post(
        f"{API}/trade/close-order", json={"orderId": order_id}, headers=bearer(trader)
    )
    assert closed.status_code == 200, closed.text
    history = await embedded.client.get(f"{API}/trade/get-close-orders", headers=bearer(reader))
    assert [o["orderId"] for o in history.json()["orders"]] == [order_id]


async def test_no_key_can_manage_keys_or_sign_out(embedded: Stack) -> None:
    session = await embedded.sign_in()
    made = await make_key(embedded, session, ["read", "trade"])
    key = made["key"]
    attempts = [
        embedded.client.post(KEYS, json={"name": "more", "scopes": ["read"]}, headers=bearer(key)),
        embedded.client.get(KEYS, headers=bearer(key)),
        embedded.client.delete(f"{KEYS}/{made['id']}", headers=bearer(key)),
        embedded.client.post(f"{API}/auth/signout", headers=bearer(key)),
    ]
    for attempt in attempts:
        assert_error(await attempt, 403, "session_required")
    listed = (await embedded.client.get(KEYS, headers=session.auth)).json()["keys"]
    assert [k["id"] for k in listed] == [made["id"]]
    assert (await embedded.client.get(WHO, headers=bearer(key))).status_code == 200


async def test_a_revoked_key_is_refused_at_once_by_every_api_and_the_ws_server(
    stack: Stack, tmp_path: Path
) -> None:
    session = await stack.sign_in()
    made = await make_key(stack, session, ["read", "trade"])
    key = made["key"]
    other = (await make_key(stack, session, ["read"], "other"))["key"]
    async with another_api(stack) as other_api, ws_process(stack, tmp_path / "ws.log") as ws:
        for client in (stack.client, other_api):
            assert (await client.get(WHO, headers=bearer(key))).status_code == 200
        watching = Inbox(await connect(f"{ws.url}?token={key}"))
        assert (await watching.subscribe("orders"))["channels"] == ["orders"]
        by_header = Inbox(await connect(ws.url, additional_headers=bearer(key)))
        assert (await by_header.subscribe("orders"))["channels"] == ["orders"]
        by_message = Inbox(await connect(ws.url))
        await by_message.send({"type": "auth", "token": other})
        await by_message.first(lambda m: m["type"] == "authenticated", "the key's welcome")

        revoked = await stack.client.delete(f"{KEYS}/{made['id']}", headers=session.auth)
        assert revoked.status_code == 200, revoked.text

        assert_error(await stack.client.get(WHO, headers=bearer(key)), 401, "unauthorized")

        async def other_api_refuses() -> bool:
            return (await other_api.get(WHO, headers=bearer(key))).status_code == 401

        await eventually(other_api_refuses, 10, "the other API to refuse the key")
        for inbox in (watching, by_header):
            assert await inbox.closed() == 4401
            assert inbox.connection.close_reason == "session ended: API key revoked"
        assert await Inbox(await connect(f"{ws.url}?token={key}")).closed() == 4401
        # The other key goes on.
        assert by_message.close_code is None
        assert (await other_api.get(WHO, headers=bearer(other))).status_code == 200
        await by_message.close()
        listed = (await stack.client.get(KEYS, headers=session.auth)).json()["keys"]
        assert made["id"] not in [k["id"] for k in listed]

    # Processes started after the revocation refuse it from their first request.
    async with another_api(stack) as restarted, ws_process(stack, tmp_path / "ws2.log") as ws:
        assert_error(await restarted.get(WHO, headers=bearer(key)), 401, "unauthorized")
        assert await Inbox(await connect(f"{ws.url}?token={key}")).closed() == 4401
        assert (await restarted.get(WHO, headers=bearer(other))).status_code == 200


async def test_another_users_key_ids_reveal_and_revoke_nothing(embedded: Stack) -> None:
    owner = await embedded.sign_in()
    attacker = await embedded.sign_in()
    made = await make_key(embedded, owner, ["read"])
    for key_id in (made["id"], "00000000-0000-4000-8000-000000000000"):
        refused = await embedded.client.delete(f"{KEYS}/{key_id}", headers=attacker.auth)
        assert_error(refused, 404, "key_not_found")
    assert (await embedded.client.get(KEYS, headers=attacker.auth)).json() == {"keys": []}
    assert (await embedded.client.get(WHO, headers=bearer(made["key"]))).status_code == 200


@pytest.mark.parametrize(
    "key",
    [
        "tpk_",
        "tpk_" + "A" * 43,  # well formed, never made
        "tpk_" + "A" * 42 + "!",
        "tpk_" + "A" * 10_000,
        "tpk_\u00e9" + "A" * 42,
    ],
)
async def test_unknown_or_malformed_keys_are_401(embedded: Stack, key: str) -> None:
    header = f"Bearer {key}".encode("latin-1")  # as sent on the wire, any byte
    response = await embedded.client.get(WHO, headers={"Authorization": header})
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "x" * 65, "scopes": ["read"]}, "name"),
        ({"name": "tab\there", "scopes": ["read"]}, "name"),
        ({"name": "bot", "scopes": []}, "scopes"),
        ({"name": "bot", "scopes": ["trade"]}, "scopes"),
        ({"name": "bot", "scopes": ["read", "read"]}, "scopes"),
        ({"name": "bot", "scopes": ["admin"]}, "scopes"),
        ({"name": "bot", "scopes": [["read"]]}, "scopes"),
        ({"name": {"nested": [1, 2]}, "scopes": ["read"]}, "name"),
        ({"name": "bot"}, "scopes"),
        ({"name": "bot", "scopes": ["read"], "admin": True}, "admin"),
    ],
)
async def test_bad_key_requests_are_422_naming_the_field(
    embedded: Stack, body: dict[str, Any], field: str
) -> None:
    session = await embedded.sign_in()
    response = await embedded.client.post(KEYS, json=body, headers=session.auth)
    assert field in assert_error(response, 422, "validation_error")["message"]


async def test_a_bad_key_id_is_422_and_too_many_keys_409(embedded: Stack) -> None:
    session = await embedded.sign_in()
    for bad in ("not-a-uuid", "00000000-0000-4000-8000-00000000000A"):
        refused = await embedded.client.delete(f"{KEYS}/{bad}", headers=session.auth)
        assert "key_id" in assert_error(refused, 422, "validation_error")["message"]
    for number in range(20):
        await make_key(embedded, session, ["read"], f"key {number}")
    refused = await embedded.client.post(
        KEYS, json={"name": "one more", "scopes": ["read"]}, headers=session.auth
    )
    assert_error(refused, 409, "too_many_keys")


async def test_keys_made_at_once_never_pass_the_limit(stack: Stack) -> None:
    # Counting the keys, then adding one, in two steps let many requests sent together
    # each count 19 and each add one.
    session = await stack.sign_in()
    for number in range(15):
        await make_key(stack, session, ["read"], f"key {number}")
    body = {"name": "at once", "scopes": ["read"]}
    answers = await asyncio.gather(
        *(stack.client.post(KEYS, json=body, headers=session.auth) for _ in range(20))
    )
    assert sorted(answer.status_code for answer in answers) == [201] * 5 + [409] * 15
    for answer in answers:
        if answer.status_code == 409:
            assert_error(answer, 409, "too_many_keys")
    listed = await stack.client.get(KEYS, headers=session.auth)
    assert len(listed.json()["keys"]) == 20


async def test_keys_are_managed_by_cookie_only_from_our_own_pages(embedded: Stack) -> None:
    session = await embedded.sign_in()
    made = await make_key(embedded, session, ["read"])
    async with embedded.new_client() as browser:
        browser.cookies.set("token", session.token)
        evil = {"Origin": "https://evil.example"}
        refused = await browser.post(KEYS, json={"name": "x", "scopes": ["read"]}, headers=evil)
        assert_error(refused, 403, "cross_site")
        assert_error(await browser.delete(f"{KEYS}/{made['id']}", headers=evil), 403, "cross_site")
        ours = {"Origin": PUBLIC_URL}
        created = await browser.post(KEYS, json={"name": "x", "scopes": ["read"]}, headers=ours)
        assert created.status_code == 201, created.text
    assert (await embedded.client.get(WHO, headers=bearer(made["key"]))).status_code == 200


async def test_reads_count_per_key_and_per_account(embedded: Stack) -> None:
    # Twenty keys must not be twenty read limits: every key's reads also count in its
    # account's, and a key has a smaller one of its own, so a bot polling flat out leaves
    # the terminal some of the account's reads.
    session = await embedded.sign_in()
    first = (await make_key(embedded, session, ["read"]))["key"]
    second = (await make_key(embedded, session, ["read"], "second"))["key"]
    embedded.context.key_reads = ReadLimiter(rate_per_s=1, burst=2, clock=lambda: 0.0)
    embedded.context.reads = ReadLimiter(rate_per_s=1, burst=4, clock=lambda: 0.0)

    async def read(headers: dict[str, str]) -> httpx.Response:
        return await embedded.client.get(f"{API}/balance/me", headers=headers)

    for _ in range(2):
        assert (await read(bearer(first))).status_code == 200
    refused = assert_error(await read(bearer(first)), 429, "rate_limited")
    assert "with this API key" in refused["message"], refused
    # The other key has its own count, but the account's is shared by all its callers.
    assert (await read(bearer(second))).status_code == 200
    assert (await read(session.auth)).status_code == 200  # the account's fourth read
    for headers in (bearer(second), session.auth):
        refused = assert_error(await read(headers), 429, "rate_limited")
        assert "on this account" in refused["message"], refused


@pytest.mark.stack_settings(order_limit_per_s=4, key_order_limit_per_s=2)
async def test_an_accounts_keys_share_its_order_limit(stack: Stack, clock: FrozenClock) -> None:
    clock.now = HOUR_START  # the start of a one-second window
    session = await stack.sign_in()
    keys = [
        bearer((await make_key(stack, session, ["read", "trade"], f"bot {n}"))["key"])
        for n in range(3)
    ]
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")

    async def place(headers: dict[str, str]) -> httpx.Response:
        return await stack.client.post(f"{API}/trade/create-order", json=ORDER, headers=headers)

    assert [(await place(keys[0])).status_code for _ in range(3)] == [200, 200, 429]
    assert [(await place(keys[1])).status_code for _ in range(2)] == [200, 200]
    # The account has placed its four this second: the third key and the terminal wait.
    for headers in (keys[2], session.auth):
        refused = assert_error(await place(headers), 429, "rate_limited")
        assert "on this account" in refused["message"], refused
    assert len(await stack.open_orders(session)) == 4

    clock.now = HOUR_START + 1  # the next second's window
    assert (await place(keys[2])).status_code == 200
