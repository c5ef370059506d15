"""Reset and deposit over HTTP on Redis + PostgreSQL and on the embedded default: the
closes and cancels a reset makes (in the history with reason ``reset``), the balance, the
day's allowance, the limits, a price missing, the ``ledger_entries`` rows and the users'
balance the engine service writes, and a restart that keeps all of it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.support.api import API, Session, Stack, assert_error
from tests.support.stack import eventually
from tradepro.db.models import LedgerEntryRow, User
from tradepro.db.session import open_database

pytestmark = pytest.mark.integration

LEDGER = LedgerEntryRow.__table__


async def account(stack: Stack, session: Session, route: str, body: Any) -> httpx.Response:
    return await stack.client.post(f"{API}/account/{route}", json=body, headers=session.auth)


async def ledger_rows(stack: Stack, user_id: str) -> list[tuple[Any, ...]]:
    database = open_database(stack.settings.effective_database_url)
    try:
        async with database.connect() as connection:
            query = (
                select(LEDGER.c.kind, LEDGER.c.amount, LEDGER.c.balance_after, LEDGER.c.id)
                .where(LEDGER.c.user_id == user_id)
                .order_by(LEDGER.c.created_at)
            )
            return [tuple(row) for row in (await connection.execute(query)).all()]
    finally:
        await database.dispose()


async def stored_balance(stack: Stack, user_id: str) -> int | None:
    database = open_database(stack.settings.effective_database_url)
    try:
        async with database.connect() as connection:
            query = select(User.__table__.c.balance).where(User.__table__.c.id == user_id)
            return (await connection.execute(query)).scalar_one_or_none()
    finally:
        await database.dispose()


async def test_deposit_then_reset_with_positions_and_orders(stack: Stack) -> None:
    session = await stack.sign_in()
    other = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    opened = await stack.create_order(session)  # buy 0.01 at 100001.0
    assert opened.status_code == 200, opened.text
    placed = await stack.create_order(session, type="limit", limitPrice="99000.0")
    assert placed.status_code == 200, placed.text
    others = await stack.create_order(other)
    assert others.status_code == 200, others.text

    assert (await stack.deposit_allowance(session)) == "100000.00"
    deposited = await account(stack, session, "deposit", {"amount": "1000.00"})
    assert deposited.status_code == 200, deposited.text
    body = deposited.json()
    assert (body["kind"], body["amount"], body["balance"], body["depositAllowance"]) == (
        "deposit", "1000.00", "5800.99", "99000.00",
    )  # fmt: skip
    assert (await stack.deposit_allowance(session)) == "99000.00"

    await stack.publish_price("BTC_USDC", "100101.0", "100111.0")
    reset = await account(stack, session, "reset", {})
    assert reset.status_code == 200, reset.text
    body = reset.json()
    # 5,000.00 + 1,000.00 deposited + 1.00 (the buy closed at the bid 100101.0): 6,001.00
    assert (body["kind"], body["amount"], body["balance"]) == ("reset", "-1001.00", "5000.00")
    [closed] = body["closedOrders"]
    assert closed["orderId"] == opened.json()["orderId"]
    assert (closed["reason"], closed["closePrice"], closed["pnl"]) == ("reset", "100101.0", "1.00")
    [canceled] = body["canceledOrders"]
    assert canceled["orderId"] == placed.json()["orderId"]
    assert (canceled["status"], canceled["reason"]) == ("canceled", "reset")

    balance = await stack.balance(session)
    assert (balance["balance"], balance["lockedMargin"], balance["orderMargin"]) == (
        "5000.00", "0.00", "0.00",
    )  # fmt: skip
    assert await stack.open_orders(session) == []
    history = await stack.closed_orders(session, reason="reset")
    assert [trade["orderId"] for trade in history["orders"]] == [closed["orderId"]]

    async def in_order_history() -> bool:
        ended = await stack.client.get(f"{API}/trade/get-order-history", headers=session.auth)
        listed = [(o["orderId"], o["reason"]) for o in ended.json()["orders"]]
        return listed == [(canceled["orderId"], "reset")]

    await eventually(in_order_history, 10, "the cancelled order in the order history")
    # the other user is untouched
    assert len(await stack.open_orders(other)) == 1

    # A reset to another balance; then the rows the engine service wrote.
    again = await account(stack, session, "reset", {"balance": "123456.78"})
    assert again.status_code == 200, again.text
    assert (again.json()["amount"], again.json()["balance"]) == ("118456.78", "123456.78")
    expected = [
        # the free balance after: 6,000.00 less the margin (100.01) and the reservation (99.00)
        ("deposit", 100_000, 580_099, deposited.json()["id"]),
        ("reset", -100_100, 500_000, reset.json()["id"]),
        ("reset", 11_845_678, 12_345_678, again.json()["id"]),
    ]

    async def recorded() -> bool:
        return sorted(await ledger_rows(stack, session.user_id)) == sorted(expected)

    await eventually(recorded, 10, "the ledger rows")
    assert await ledger_rows(stack, other.user_id) == []

    # After a restart: the balance, the rows (written once) and the day's deposits remain.
    await stack.stop_engine()
    assert await stored_balance(stack, session.user_id) == 12_345_678
    await stack.start_engine()
    assert (await stack.balance(session))["balance"] == "123456.78"
    assert (await stack.deposit_allowance(session)) == "99000.00"
    assert sorted(await ledger_rows(stack, session.user_id)) == sorted(expected)


async def test_limits_and_bad_amounts_are_clear_refusals(stack: Stack) -> None:
    session = await stack.sign_in()
    for body, error in (
        ({"amount": "100000.01"}, "deposit_limit"),
        ({"amount": "60000.00"}, None),
        ({"amount": "40000.01"}, "deposit_limit"),
        ({"amount": "40000.00"}, None),
        ({"amount": "0.01"}, "deposit_limit"),
    ):
        response = await account(stack, session, "deposit", body)
        if error is None:
            assert response.status_code == 200, response.text
        else:
            message = assert_error(response, 409, error)["message"]
            assert "$100,000.00 per day" in message and "may still be deposited today" in message
    reset = await account(stack, session, "reset", {"balance": "1000000.01"})
    assert "$1,000,000.00" in assert_error(reset, 409, "balance_limit")["message"]
    assert (await stack.balance(session))["balance"] == "105000.00"
    for route, body in (
        ("deposit", {"amount": "0"}),
        ("deposit", {"amount": "-5"}),
        ("deposit", {"amount": "1.001"}),
        ("deposit", {"amount": 1.005}),  # read exactly: finer than a cent
        ("deposit", {"amount": "1e3"}),
        ("deposit", {"amount": "9" * 40}),
        ("deposit", {"amount": {"value": "1"}}),
        ("deposit", {"amount": ["1"]}),
        ("deposit", {}),
        ("deposit", {"amount": "1", "userId": session.user_id}),
        ("reset", {"balance": "-1"}),
        ("reset", {"balance": "abc"}),
        ("reset", {"balance": True}),
    ):
        response = await account(stack, session, route, body)
        assert response.status_code == 422, (body, response.text)
        assert_error(response, 422, "validation_error")
    assert (await stack.balance(session))["balance"] == "105000.00"


@pytest.mark.stack_settings(max_price_age_s=1)
async def test_reset_without_a_fresh_price_changes_nothing(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("SOL_USDC", "200.00", "200.10")
    opened = await stack.create_order(session, asset="SOL_USDC", qty="1", leverage=5)
    assert opened.status_code == 200, opened.text
    before = await stack.balance(session)
    await asyncio.sleep(1.2)  # the SOL quote is now older than the price age
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    refused = await account(stack, session, "reset", {})
    message = assert_error(refused, 503, "stale_price")["message"]
    assert "nothing was reset" in message and "SOL_USDC" in message
    assert await stack.balance(session) == before
    assert len(await stack.open_orders(session)) == 1
    await stack.publish_price("SOL_USDC", "201.00", "201.10")
    done = await account(stack, session, "reset", {})
    assert done.status_code == 200, done.text
    assert done.json()["closedOrders"][0]["closePrice"] == "201.00"


@pytest.mark.stack_settings(max_paper_balance="5100.00", daily_deposit_cap="250.00")
async def test_the_limits_are_the_ones_the_settings_give(stack: Stack) -> None:
    """``MAX_PAPER_BALANCE`` and ``DAILY_DEPOSIT_CAP`` reach the engine and the API: other
    values than the defaults refuse other amounts, and the refusals name them."""
    session = await stack.sign_in()
    limits = await stack.client.get(f"{API}/account/limits", headers=session.auth)
    assert limits.json() == {
        "depositAllowance": "250.00", "dailyDepositCap": "250.00",
        "maxPaperBalance": "5100.00", "startingBalance": "5000.00",
    }  # fmt: skip
    over = await account(stack, session, "deposit", {"amount": "100.01"})
    message = assert_error(over, 409, "balance_limit")["message"]
    assert "at most $5,100.00" in message and "$100.00 may still be deposited" in message
    made = await account(stack, session, "deposit", {"amount": "100.00"})
    assert made.status_code == 200, made.text
    assert (made.json()["balance"], made.json()["depositAllowance"]) == ("5100.00", "150.00")
    over = await account(stack, session, "deposit", {"amount": "150.01"})
    message = assert_error(over, 409, "deposit_limit")["message"]
    assert "$250.00 per day" in message and "$150.00 may still be deposited today" in message
    assert_error(await account(stack, session, "deposit", {"amount": "0.01"}), 409, "balance_limit")
    over = await account(stack, session, "reset", {"balance": "5100.01"})
    assert "at most $5,100.00" in assert_error(over, 409, "balance_limit")["message"]
    assert (await stack.balance(session))["balance"] == "5100.00"
    done = await account(stack, session, "reset", {"balance": "5100.00"})
    assert done.status_code == 200, done.text
