"""Reset and deposit under attack: a leaked key cannot wipe the account, a read key cannot
add money, nobody reaches another user's account, a replayed request (on the bus or by
HTTP) moves money once, and neither bad numbers, other pages nor many requests at once
get past the day's allowance or the largest balance."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.security.test_api_keys import bearer, make_key
from tests.security.test_cross_site import FOREIGN_PAGES, browser_of
from tests.support.api import API, PUBLIC_URL, Session, Stack, assert_error
from tests.support.stack import eventually
from tradepro.bus.base import Entry
from tradepro.db.models import IdempotencyKey
from tradepro.db.session import open_database

pytestmark = pytest.mark.integration

KEYS = IdempotencyKey.__table__
RESET = f"{API}/account/reset"
DEPOSIT = f"{API}/account/deposit"


async def balance(stack: Stack, session: Session) -> str:
    return (await stack.balance(session))["balance"]


async def test_no_api_key_may_reset_and_a_read_key_may_not_deposit(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    assert (await stack.create_order(session)).status_code == 200
    trade_key = (await make_key(stack, session, ["read", "trade"]))["key"]
    read_key = (await make_key(stack, session, ["read"]))["key"]
    before = await balance(stack, session)
    # a read key is refused any write before the session check (as for managing keys)
    for key, error in ((trade_key, "session_required"), (read_key, "insufficient_scope")):
        for body in ({}, {"balance": "1000000.00"}):
            refused = await stack.client.post(RESET, json=body, headers=bearer(key))
            assert_error(refused, 403, error)
    refused = await stack.client.post(DEPOSIT, json={"amount": "10.00"}, headers=bearer(read_key))
    assert_error(refused, 403, "insufficient_scope")
    assert await balance(stack, session) == before
    assert len(await stack.open_orders(session)) == 1  # nothing was closed
    # a trade key may deposit (paper money: harmless, and bounded by the day's allowance)
    added = await stack.client.post(DEPOSIT, json={"amount": "10.00"}, headers=bearer(trade_key))
    assert added.status_code == 200, added.text
    # the person's own session may reset
    reset = await stack.client.post(RESET, json={}, headers=session.auth)
    assert reset.status_code == 200, reset.text


async def test_another_users_account_is_out_of_reach(stack: Stack) -> None:
    victim = await stack.sign_in()
    attacker = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    assert (await stack.create_order(victim)).status_code == 200
    before = await balance(stack, victim)
    for path, body in (
        (RESET, {"userId": victim.user_id}),
        (RESET, {"balance": "1.00", "user": victim.user_id}),
        (DEPOSIT, {"amount": "100.00", "userId": victim.user_id}),
    ):
        response = await stack.client.post(path, json=body, headers=attacker.auth)
        assert_error(response, 422, "validation_error")
    for path, body in ((RESET, {"balance": "1.00"}), (DEPOSIT, {"amount": "100.00"})):
        response = await stack.client.post(path, json=body, headers=attacker.auth)
        assert response.status_code == 200, response.text
    assert await balance(stack, victim) == before
    assert len(await stack.open_orders(victim)) == 1
    for path, body in ((RESET, {}), (DEPOSIT, {"amount": "1.00"})):
        anonymous = await stack.client.post(path, json=body)
        assert_error(anonymous, 401, "unauthorized")


async def test_a_replayed_request_moves_money_once(stack: Stack) -> None:
    session = await stack.sign_in()
    # over HTTP, with an Idempotency-Key: the first answer again, one deposit
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await stack.client.post(DEPOSIT, json={"amount": "250.00"}, headers=session.auth | key)
    assert first.status_code == 200, first.text
    again = await stack.client.post(DEPOSIT, json={"amount": "250.00"}, headers=session.auth | key)
    assert again.status_code == 200 and again.json() == first.json()
    other = await stack.client.post(DEPOSIT, json={"amount": "9.00"}, headers=session.auth | key)
    assert_error(other, 422, "idempotency_mismatch")
    assert await balance(stack, session) == "5250.00"

    # on the bus: the very same entry published again is refused by the engine
    payload: dict[str, Any] = {"userId": session.user_id, "amount": "250.00"}
    request_id = first.json()["id"]
    collected: list[dict[str, Any]] = []
    stack.context.requester.subscribe(collected.append, None)
    for kind, body in (("deposit", payload), ("reset-account", {"userId": session.user_id})):
        entry: Entry = await stack.context.bus.publish(kind, body, request_id)
        assert entry.request_id == request_id

    def refused_twice() -> bool:
        return [b.get("status") for b in collected if b.get("id") == request_id] == [
            "duplicate_request",
            "duplicate_request",
        ]

    await eventually(refused_twice, 10, "the replays' refusals")
    assert await balance(stack, session) == "5250.00"


async def test_a_retry_after_an_unrecorded_answer_finds_the_deposit_made(stack: Stack) -> None:
    """The API process died after the engine applied the deposit and before the answer
    was stored with its Idempotency-Key: the retry sends the same request id again, the
    engine refuses it as applied, and the answer is read back from ``ledger_entries``."""
    session = await stack.sign_in()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await stack.client.post(DEPOSIT, json={"amount": "40.00"}, headers=session.auth | key)
    assert first.status_code == 200, first.text
    database = open_database(stack.settings.effective_database_url)
    try:
        async with database.begin() as connection:
            await connection.execute(
                update(KEYS)
                .where(KEYS.c.key == key["Idempotency-Key"])
                .values(status=None, response=None)
            )
    finally:
        await database.dispose()

    async def answered_again() -> bool:
        retry = await stack.client.post(
            DEPOSIT, json={"amount": "40.00"}, headers=session.auth | key
        )
        if retry.status_code == 409:  # the ledger row is not written yet (milliseconds)
            return False
        assert retry.status_code == 200, retry.text
        # the same entry, read back (today's allowance is not part of the record)
        assert retry.json() == first.json() | {"depositAllowance": None}
        return True

    await eventually(answered_again, 10, "the retried deposit's answer")
    assert await balance(stack, session) == "5040.00"


@pytest.mark.stack_settings(order_limit_per_s=1000)
async def test_many_deposits_at_once_never_pass_the_days_allowance(stack: Stack) -> None:
    session = await stack.sign_in()

    async def deposit(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(DEPOSIT, json={"amount": "7000.00"}, headers=session.auth)

    async with stack.another_api() as second:
        responses = await asyncio.gather(
            *(deposit(stack.client if n % 2 else second) for n in range(20))
        )
    statuses = sorted(r.status_code for r in responses)
    # 14 x 7,000.00 = 98,000.00 fit in the 100,000.00 a day; the 15th does not
    assert statuses == [200] * 14 + [409] * 6, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            message = assert_error(response, 409, "deposit_limit")["message"]
            assert "$2,000.00 may still be deposited today" in message
    assert await balance(stack, session) == "103000.00"
    assert (await stack.deposit_allowance(session)) == "2000.00"


async def test_huge_negative_and_nested_numbers_are_refused(embedded: Stack) -> None:
    stack = embedded
    session = await stack.sign_in()
    nested: Any = "1.00"
    for _ in range(200):
        nested = {"amount": nested}
    for path, body in (
        (DEPOSIT, {"amount": "9" * 5000}),
        (DEPOSIT, {"amount": 10**400}),
        (DEPOSIT, {"amount": "-0.01"}),
        (DEPOSIT, {"amount": "NaN"}),
        (DEPOSIT, {"amount": "Infinity"}),
        (DEPOSIT, {"amount": "0x10"}),
        (DEPOSIT, {"amount": " 1"}),
        (DEPOSIT, nested),
        (DEPOSIT, [{"amount": "1"}]),
        (RESET, {"balance": "9" * 5000}),
        (RESET, {"balance": "-0.01"}),
        (RESET, {"balance": nested}),
        (RESET, {"balance": None, "extra": 1}),
    ):
        response = await stack.client.post(path, json=body, headers=session.auth)
        assert response.status_code in (413, 422), body if len(str(body)) < 80 else path
        assert "Traceback" not in response.text
    assert await balance(stack, session) == "5000.00"
    # beyond the largest balance: refused, whatever the path to it
    limited = await stack.client.post(RESET, json={"balance": "1000000.01"}, headers=session.auth)
    assert_error(limited, 409, "balance_limit")
    at_most = await stack.client.post(RESET, json={"balance": "999950.00"}, headers=session.auth)
    assert at_most.status_code == 200, at_most.text
    over = await stack.client.post(DEPOSIT, json={"amount": "50.01"}, headers=session.auth)
    assert "$50.00 may still be deposited" in assert_error(over, 409, "balance_limit")["message"]
    assert await balance(stack, session) == "999950.00"


async def test_other_pages_cannot_reset_or_deposit_with_the_cookie(embedded: Stack) -> None:
    stack = embedded
    session = await stack.sign_in()
    async with await browser_of(stack, session) as browser:
        for name, headers in FOREIGN_PAGES.items():
            for path, body in ((RESET, {"balance": "0"}), (DEPOSIT, {"amount": "1.00"})):
                response = await browser.post(path, json=body, headers=headers)
                assert response.status_code == 403, (name, path, response.text)
                assert_error(response, 403, "cross_site")
        assert await balance(stack, session) == "5000.00"
        own = await browser.post(DEPOSIT, json={"amount": "1.00"}, headers={"Origin": PUBLIC_URL})
        assert own.status_code == 200, own.text
