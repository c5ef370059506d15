"""Pending orders over HTTP on Redis + PostgreSQL and on the embedded default: place, fill
by the feed, cancel, amend, expire; the history; idempotent placing; bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import API, Session, Stack
from tests.support.stack import eventually

pytestmark = pytest.mark.integration


async def pending(stack: Stack, session: Session) -> list[dict[str, Any]]:
    response = await stack.client.get(f"{API}/trade/get-pending-orders", headers=session.auth)
    assert response.status_code == 200, response.text
    orders: list[dict[str, Any]] = response.json()["orders"]
    return orders


async def history(stack: Stack, session: Session, **params: Any) -> dict[str, Any]:
    response = await stack.client.get(
        f"{API}/trade/get-order-history", params=params, headers=session.auth
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def post(stack: Stack, session: Session, route: str, body: Any) -> httpx.Response:
    return await stack.client.post(f"{API}/trade/{route}", json=body, headers=session.auth)


async def test_place_fill_cancel_amend_and_history(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")

    # A buy limit below the ask rests, its margin at its own price reserved.
    placed = await stack.create_order(
        session, type="limit", limitPrice="99000.0", qty="0.01", leverage=10, takeProfit="99500"
    )
    assert placed.status_code == 200, placed.text
    order = placed.json()
    assert order == {
        "orderId": order["orderId"], "asset": "BTC_USDC", "side": "buy", "type": "limit",
        "qty": "0.01000", "leverage": 10, "limitPrice": "99000.0", "stopPrice": None,
        "takeProfit": "99500.0", "stopLoss": None, "trailingStop": None,
        "reservedMargin": "99.00", "expiresAt": None, "createdAt": order["createdAt"],
    }  # fmt: skip
    assert await pending(stack, session) == [order]
    assert await stack.balance(session) == {
        "balance": "4901.00", "lockedMargin": "0.00", "orderMargin": "99.00", "equity": "5000.00",
    }  # fmt: skip

    # Amend: a new price and qty, reserved again as if placed now.
    change = {"orderId": order["orderId"], "limitPrice": "98000", "qty": "0.02"}
    amended = await post(stack, session, "amend-order", change)
    assert amended.status_code == 200, amended.text
    assert amended.json()["reservedMargin"] == "196.00"
    assert amended.json()["limitPrice"] == "98000.0" and amended.json()["qty"] == "0.02000"
    assert (await stack.balance(session))["orderMargin"] == "196.00"

    # The feed moves through it: it fills at the tick's ask and becomes a position.
    await stack.publish_price("BTC_USDC", "97500.0", "97501.0")
    await eventually(lambda: _positions(stack, session), 10, "the fill")
    [position] = await stack.open_orders(session)
    assert position["orderId"] == order["orderId"]
    assert position["openPrice"] == "97501.0"  # the ask, better than the limit
    assert position["margin"] == "195.01"  # 97501.0 x 0.02 / 10 = 195.002, up to the cent
    assert await pending(stack, session) == []
    assert (await stack.balance(session))["orderMargin"] == "0.00"

    # A sell stop, cancelled: the reservation comes back.
    stop = await stack.create_order(session, side="sell", type="stop", stopPrice="90000",
                                    qty="0.01", leverage=5)  # fmt: skip
    assert stop.status_code == 200, stop.text
    canceled = await post(stack, session, "cancel-order", {"orderId": stop.json()["orderId"]})
    assert canceled.status_code == 200, canceled.text
    assert canceled.json() == {
        "orderId": stop.json()["orderId"], "status": "canceled", "balance": "4804.99",
    }  # fmt: skip
    again = await post(stack, session, "cancel-order", {"orderId": stop.json()["orderId"]})
    assert again.status_code == 404 and again.json()["error"] == "order_not_found"

    # The history: newest first, with status and reason, one page at a time.
    async def both_ended() -> bool:
        return len((await history(stack, session))["orders"]) == 2

    await eventually(both_ended, 10, "the history rows")
    page = await history(stack, session, limit=1)
    [newest] = page["orders"]
    assert (newest["orderId"], newest["status"], newest["reason"]) == (
        stop.json()["orderId"], "canceled", "user",
    )  # fmt: skip
    rest = await history(stack, session, limit=1, cursor=page["nextCursor"])
    [filled] = rest["orders"]
    assert (filled["status"], filled["reason"], filled["fillPrice"]) == (
        "filled", "filled", "97501.0",
    )  # fmt: skip
    assert rest["nextCursor"] is None


async def _positions(stack: Stack, session: Session) -> bool:
    return bool(await stack.open_orders(session))


async def test_an_order_expires_on_the_first_input_after_its_time(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("ETH_USDC", "3000.00", "3000.10")
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    placed = await stack.create_order(
        session, asset="ETH_USDC", type="limit", limitPrice="2900", qty="1", leverage=10,
        expiresAt=soon,
    )  # fmt: skip
    assert placed.status_code == 200, placed.text
    assert placed.json()["expiresAt"].endswith("Z")
    assert (await stack.balance(session))["orderMargin"] == "290.00"

    async def expired() -> bool:
        await stack.publish_price("ETH_USDC", "3000.00", "3000.10")  # an input to the engine
        return (await stack.balance(session))["orderMargin"] == "0.00"

    await eventually(expired, 15, "the expiry")
    assert await pending(stack, session) == []
    assert (await stack.balance(session))["balance"] == "5000.00"

    async def in_history() -> bool:
        orders = (await history(stack, session))["orders"]
        return [(o["status"], o["reason"]) for o in orders] == [("expired", "expired")]

    await eventually(in_history, 10, "the expiry's history row")


async def test_placing_with_an_idempotency_key_places_once(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    body = {"asset": "BTC_USDC", "side": "sell", "type": "limit", "limitPrice": "101000",
            "qty": "0.01", "leverage": 10}  # fmt: skip
    headers = session.auth | {"Idempotency-Key": "place-once-1"}
    first = await stack.client.post(f"{API}/trade/create-order", json=body, headers=headers)
    second = await stack.client.post(f"{API}/trade/create-order", json=body, headers=headers)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json() == second.json()
    assert [o["orderId"] for o in await pending(stack, session)] == [first.json()["orderId"]]


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"type": "limit"}, 422, "limitPrice: required"),
        ({"type": "limit", "limitPrice": "99000", "stopPrice": "1"}, 422, "stopPrice: not allowed"),
        ({"type": "stop", "stopPrice": "99000.05"}, 422, "stopPrice"),  # finer than 0.1
        ({"type": "limit", "limitPrice": "1e30"}, 422, "limitPrice"),
        ({"type": "limit", "limitPrice": "99000", "expiresAt": "2001-01-01T00:00:00Z"}, 422,
         "expiresAt: must be in the future"),
        ({"type": "limit", "limitPrice": "99000", "expiresAt": "2030-01-01T00:00:00"}, 422,
         "expiresAt: give a time zone"),
        ({"type": "limit", "limitPrice": "99000", "expiresAt": "10000-01-01T00:00:00Z"}, 422,
         "expiresAt"),
        ({"expiresAt": "2030-01-01T00:00:00Z"}, 422, "expiresAt: only limit and stop"),
        ({"type": "limit", "limitPrice": "99000", "trailingStop": "0.05"}, 422, "trailingStop"),
        ({"trailingStop": "-100"}, 422, "trailingStop"),
        ({"type": "bracket", "limitPrice": "99000"}, 422, "type"),
        ({"type": "limit", "limitPrice": "100002"}, 400, "limitPrice of a buy limit must be below"),
        ({"type": "stop", "stopPrice": "99000"}, 400, "stopPrice of a buy stop must be above"),
        ({"type": "limit", "limitPrice": "99000", "stopLoss": "99500"}, 400,
         "stopLoss must be below the order's price"),
    ],
)  # fmt: skip
async def test_bad_pending_orders_are_refused_naming_the_field(
    embedded: Stack, fields: dict[str, Any], status: int, words: str
) -> None:
    session = await embedded.sign_in()
    await embedded.publish_price("BTC_USDC", "100000.0", "100001.0")
    response = await embedded.create_order(session, **fields)
    assert response.status_code == status, response.text
    assert words in response.text
    assert (await embedded.balance(session))["orderMargin"] == "0.00"
