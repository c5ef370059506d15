"""An ``Idempotency-Key`` never opens a second order, whatever restarts happen.

The attack (issue 10): create with key K; after a snapshot, close it; restart the API (its
in-memory keys gone); create again with K. The API derived the same order id from K and
the engine refused it only while open, so a second position opened under the first one's
id; the next snapshot then deleted it from ``open_positions`` with the first one's close,
and after an engine restart its margin had left the ledger. Now the key and its first
answer live in the database and the engine never opens an order id twice.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.api import API, Session, Stack, assert_error
from tests.support.stack import eventually
from tradepro.bus.base import entry_order
from tradepro.db.models import ExistingTrade, IdempotencyKey, OpenPosition, User
from tradepro.db.session import open_database

pytestmark = pytest.mark.integration

ORDER = {"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10}
URL = f"{API}/trade/create-order"
START_CENTS = 500_000


def keyed(session: Session, key: str) -> dict[str, str]:
    return session.auth | {"Idempotency-Key": key}


async def snapshot_taken(stack: Stack) -> None:
    """Wait until the engine has saved a snapshot that includes every entry applied now."""
    worker = stack.worker
    assert worker is not None
    target = entry_order(worker.last_entry_id)
    await eventually(
        lambda: entry_order(worker.snapshot_entry_id) >= target, 30, "an engine snapshot"
    )


async def database_ledger(database: AsyncEngine) -> dict[str, Any]:
    """What the database says: engine accounts' balances, open margin, closed trades."""
    async with database.connect() as connection:

        async def one(query: Any) -> int:
            return int((await connection.execute(query)).scalar_one() or 0)

        accounts = await one(select(func.count()).where(User.engine_shard.is_not(None)))
        balances = await one(select(func.sum(User.balance)).where(User.engine_shard.is_not(None)))
        margin = await one(select(func.sum(OpenPosition.margin)))
        pnl = await one(select(func.sum(ExistingTrade.pnl)))
        trade_ids = (await connection.execute(select(ExistingTrade.id))).scalars().all()
        open_ids = (await connection.execute(select(OpenPosition.order_id))).scalars().all()
    return {
        "deposits": accounts * START_CENTS,
        # balances + locked margin + the house's result (the opposite of every PnL paid)
        "total": balances + margin - pnl,
        "trade_ids": [str(i) for i in trade_ids],
        "open_ids": [str(i) for i in open_ids],
    }


@pytest.mark.stack_settings(snapshot_interval_s=0.2)
async def test_a_reused_key_after_restarts_opens_nothing_and_loses_no_cent(stack: Stack) -> None:
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    key = str(uuid.uuid4())
    first = await stack.client.post(URL, json=ORDER, headers=keyed(alice, key))
    assert first.status_code == 200, first.text
    order_id = first.json()["orderId"]
    await snapshot_taken(stack)
    closed = await stack.close_order(alice, order_id)
    assert closed.status_code == 200, closed.text

    await stack.restart_api()  # every in-memory key is gone
    again = await stack.client.post(URL, json=ORDER, headers=keyed(alice, key))
    assert again.status_code == 200, again.text
    assert again.json() == first.json()  # the first answer, not a new order
    async with stack.another_api() as other:  # another API process answers the same
        elsewhere = await other.post(URL, json=ORDER, headers=keyed(alice, key))
    assert (elsewhere.status_code, elsewhere.json()) == (200, first.json())
    assert await stack.open_orders(alice) == []

    await snapshot_taken(stack)
    await stack.stop_engine()
    await stack.start_engine()
    await eventually(lambda: stack.worker is not None and bool(stack.worker.engine.accounts), 30)

    database = open_database(stack.settings.effective_database_url)
    try:
        ledger = await database_ledger(database)
    finally:
        await database.dispose()
    assert ledger["total"] == ledger["deposits"]
    assert ledger["trade_ids"].count(order_id) == 1
    assert order_id not in ledger["open_ids"]
    balance = await stack.balance(alice)
    assert balance["lockedMargin"] == "0.00"
    assert await stack.open_orders(alice) == []
    [trade] = (await stack.closed_orders(alice))["orders"]
    assert trade["orderId"] == order_id


async def test_an_api_that_died_mid_request_sends_the_same_order_id(stack: Stack) -> None:
    """A key whose answer was never stored (the API died after asking the engine) re-sends
    its order id: the engine refuses it, and the API answers with the order it opened."""
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    key = str(uuid.uuid4())
    first = await stack.client.post(URL, json=ORDER, headers=keyed(alice, key))
    assert first.status_code == 200, first.text
    order_id = first.json()["orderId"]
    await forget_answer(stack, alice, key)

    while_open = await stack.client.post(URL, json=ORDER, headers=keyed(alice, key))
    assert (while_open.status_code, while_open.json()) == (200, first.json())

    await forget_answer(stack, alice, key)
    assert (await stack.close_order(alice, order_id)).status_code == 200

    async def trade_recorded() -> bool:
        async with stack.context.database.connect() as connection:
            found = await connection.execute(select(ExistingTrade.id).where(
                ExistingTrade.id == order_id
            ))  # fmt: skip
            return found.first() is not None

    await eventually(trade_recorded, 30, "the closed trade's row")
    await stack.restart_api()
    after_close = await stack.client.post(URL, json=ORDER, headers=keyed(alice, key))
    assert (after_close.status_code, after_close.json()) == (200, first.json())
    assert await stack.open_orders(alice) == []


async def forget_answer(stack: Stack, session: Session, key: str) -> None:
    async with stack.context.database.begin() as connection:
        await connection.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.user_id == session.user_id, IdempotencyKey.key == key)
            .values(status=None, response=None)
        )


async def test_the_same_key_with_another_order_is_refused(stack: Stack) -> None:
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    key = str(uuid.uuid4())
    first = await stack.client.post(URL, json=ORDER, headers=keyed(alice, key))
    assert first.status_code == 200, first.text

    bigger = ORDER | {"qty": "0.02"}
    refused = await stack.client.post(URL, json=bigger, headers=keyed(alice, key))
    body = assert_error(refused, 422, "idempotency_mismatch")
    assert "different order" in body["message"]
    other_side = await stack.client.post(
        URL, json=ORDER | {"side": "sell"}, headers=keyed(alice, key)
    )
    assert_error(other_side, 422, "idempotency_mismatch")
    # The same order spelled differently is the same order.
    same = await stack.client.post(URL, json=ORDER | {"qty": 0.010}, headers=keyed(alice, key))
    assert (same.status_code, same.json()) == (200, first.json())
    assert [o["orderId"] for o in await stack.open_orders(alice)] == [first.json()["orderId"]]


async def test_a_refusal_is_the_keys_answer_too(embedded: Stack) -> None:
    """The engine's refusal is stored like an order: the retry gets the same refusal, even
    once the balance would allow the order (it was not placed; a new key places it)."""
    stack = embedded
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    key = str(uuid.uuid4())
    held = await stack.create_order(alice, qty="0.4", leverage=10)  # $4,000.40 of $5,000
    assert held.status_code == 200, held.text
    too_big = ORDER | {"qty": "0.2"}  # $2,000.20 more
    refused = await stack.client.post(URL, json=too_big, headers=keyed(alice, key))
    first_body = assert_error(refused, 409, "insufficient_balance")
    assert (await stack.close_order(alice, held.json()["orderId"])).status_code == 200
    again = await stack.client.post(URL, json=too_big, headers=keyed(alice, key))
    assert assert_error(again, 409, "insufficient_balance") == first_body
    assert await stack.open_orders(alice) == []
    fresh = await stack.client.post(URL, json=too_big, headers=keyed(alice, str(uuid.uuid4())))
    assert fresh.status_code == 200, fresh.text


CLOSE = f"{API}/trade/close-order"


async def test_a_partial_close_retried_with_its_key_closes_one_part(stack: Stack) -> None:
    """A bot's partial close whose answer was lost, retried: without a key it would close
    a second part; with one it gets the first answer, from any API process. Applied but
    never answered (the API stopped in between), the retry closes nothing more either."""
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    opened = await stack.client.post(URL, json=ORDER | {"qty": "0.04"}, headers=alice.auth)
    assert opened.status_code == 200, opened.text
    order_id = opened.json()["orderId"]
    part = {"orderId": order_id, "qty": "0.01"}
    key = str(uuid.uuid4())
    first = await stack.client.post(CLOSE, json=part, headers=keyed(alice, key))
    assert first.status_code == 200, first.text
    assert first.json()["remainingQty"] == "0.03000"
    again = await stack.client.post(CLOSE, json=part, headers=keyed(alice, key))
    assert (again.status_code, again.json()) == (200, first.json())
    async with stack.another_api() as other:
        elsewhere = await other.post(CLOSE, json=part, headers=keyed(alice, key))
    assert (elsewhere.status_code, elsewhere.json()) == (200, first.json())
    # The same key for another close, or for an order, is refused and moves nothing.
    half = {"orderId": order_id, "qty": "0.02"}
    assert_error(
        await stack.client.post(CLOSE, json=half, headers=keyed(alice, key)),
        422,
        "idempotency_mismatch",
    )
    assert_error(
        await stack.client.post(URL, json=ORDER, headers=keyed(alice, key)),
        422,
        "idempotency_mismatch",
    )

    lost = str(uuid.uuid4())
    applied = await stack.client.post(CLOSE, json=part, headers=keyed(alice, lost))
    assert applied.status_code == 200, applied.text
    await forget_answer(stack, alice, lost)
    retried = await stack.client.post(CLOSE, json=part, headers=keyed(alice, lost))
    body = assert_error(retried, 409, "duplicate_request")
    assert applied.json()["tradeId"] in body["message"]

    (position,) = await stack.open_orders(alice)
    assert position["qty"] == "0.02000"  # two parts closed, not five
    trades = (await stack.closed_orders(alice))["orders"]
    assert sorted(t["tradeId"] for t in trades) == sorted(
        [first.json()["tradeId"], applied.json()["tradeId"]]
    )


async def test_a_partial_close_retried_after_the_position_closed_gets_its_first_answer(
    stack: Stack,
) -> None:
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    opened = await stack.client.post(URL, json=ORDER | {"qty": "0.04"}, headers=alice.auth)
    assert opened.status_code == 200, opened.text
    order_id = opened.json()["orderId"]
    key = str(uuid.uuid4())
    part = {"orderId": order_id, "qty": "0.01"}
    first = await stack.client.post(CLOSE, json=part, headers=keyed(alice, key))
    assert first.status_code == 200, first.text
    assert (await stack.close_order(alice, order_id)).status_code == 200  # the rest, by hand
    # The retry (its qty spelled another way) is the same close: the first answer, not 404.
    spelled = {"orderId": order_id, "qty": 0.010}
    again = await stack.client.post(CLOSE, json=spelled, headers=keyed(alice, key))
    assert (again.status_code, again.json()) == (200, first.json())
