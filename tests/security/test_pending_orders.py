"""Attacks on pending orders: other users' order ids, a replayed placing entry, absurd
prices, quantities and dates, fields of the wrong type, and a second order that tries to
spend the same reservation."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.support.api import API, Session, Stack, assert_error
from tests.support.stack import CallbackCollector, eventually
from tradepro.domain.order_ids import new_order_id

pytestmark = pytest.mark.integration

UNKNOWN = "3f1c1d2e-0000-4000-8000-000000000000"


def without_ids(message: str) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", message)


async def place(stack: Stack, session: Session, **fields: Any) -> dict[str, Any]:
    body = {"type": "limit", "limitPrice": "99000", "qty": "0.01", "leverage": 10} | fields
    response = await stack.create_order(session, **body)
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


async def pending_ids(stack: Stack, session: Session) -> list[str]:
    response = await stack.client.get(f"{API}/trade/get-pending-orders", headers=session.auth)
    assert response.status_code == 200, response.text
    return [order["orderId"] for order in response.json()["orders"]]


async def test_another_users_pending_order_can_be_neither_cancelled_nor_amended(
    stack: Stack,
) -> None:
    alice, bob = await stack.sign_in(), await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    order = await place(stack, alice)
    order_id = order["orderId"]
    post = stack.client.post

    stolen = assert_error(
        await post(f"{API}/trade/cancel-order", json={"orderId": order_id}, headers=bob.auth),
        404, "order_not_found",
    )  # fmt: skip
    unknown = assert_error(
        await post(f"{API}/trade/cancel-order", json={"orderId": UNKNOWN}, headers=bob.auth),
        404, "order_not_found",
    )  # fmt: skip
    assert without_ids(stolen["message"]) == without_ids(unknown["message"])  # no hint
    amend = {"orderId": order_id, "limitPrice": "1", "qty": "0.00001"}
    stolen = assert_error(
        await post(f"{API}/trade/amend-order", json=amend, headers=bob.auth), 404, "order_not_found"
    )
    amend_unknown = amend | {"orderId": UNKNOWN}
    unknown = assert_error(
        await post(f"{API}/trade/amend-order", json=amend_unknown, headers=bob.auth),
        404, "order_not_found",
    )  # fmt: skip
    assert without_ids(stolen["message"]) == without_ids(unknown["message"])
    assert await pending_ids(stack, bob) == []
    assert await pending_ids(stack, alice) == [order_id]
    [listed] = (
        await stack.client.get(f"{API}/trade/get-pending-orders", headers=alice.auth)
    ).json()["orders"]
    assert listed == order  # untouched
    # Alice's history cursor in bob's hands pages bob's own (empty) history.
    cancelled = await post(f"{API}/trade/cancel-order", json={"orderId": order_id},
                           headers=alice.auth)  # fmt: skip
    assert cancelled.status_code == 200

    async def alice_history() -> bool:
        response = await stack.client.get(f"{API}/trade/get-order-history", headers=alice.auth)
        return len(response.json()["orders"]) == 1

    await eventually(alice_history, 10, "alice's history")
    cursor = f"{(time.time_ns() // 1000) + 86_400_000_000}.{order_id}"  # a day ahead
    bobs = await stack.client.get(
        f"{API}/trade/get-order-history", params={"cursor": cursor}, headers=bob.auth
    )
    assert bobs.status_code == 200 and bobs.json() == {"orders": [], "nextCursor": None}


async def test_a_replayed_placing_entry_places_nothing_twice(embedded: Stack) -> None:
    """The same order id on the bus twice (a replay, a retry by hand): the second is a
    duplicate, and nothing more is reserved."""
    stack = embedded
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    collector = CallbackCollector(stack.context.bus)
    collector.start()
    try:
        order_id = new_order_id(time.time_ns() // 1_000_000, 7)
        payload = {"userId": alice.user_id, "asset": "BTC_USDC", "side": "buy", "qty": "0.01",
                   "leverage": 10, "type": "limit", "limitPrice": "99000.0"}  # fmt: skip
        for _ in range(2):
            await stack.context.bus.publish("create-order", payload, order_id)
        await eventually(lambda: len(collector.bodies.get(order_id, [])) == 2, 10, "both replies")
    finally:
        await collector.stop()
    statuses = [body["status"] for body in collector.bodies[order_id]]
    assert statuses == ["placed", "duplicate_request"]
    assert await pending_ids(stack, alice) == [order_id]
    assert (await stack.balance(alice))["orderMargin"] == "99.00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "limit", "limitPrice": True}, "limitPrice"),
        ({"type": "limit", "limitPrice": {"$gt": 1}}, "limitPrice"),
        ({"type": "limit", "limitPrice": [99000]}, "limitPrice"),
        ({"type": "limit", "limitPrice": 1e300}, "limitPrice"),
        ({"type": "limit", "limitPrice": "NaN"}, "limitPrice"),
        ({"type": "limit", "limitPrice": "-99000"}, "limitPrice"),
        ({"type": "limit", "limitPrice": "9" * 40}, "limitPrice"),
        ({"type": "stop", "stopPrice": "1" + "0" * 30}, "stopPrice"),
        ({"type": 5, "limitPrice": "99000"}, "type"),
        ({"type": "limit", "limitPrice": "99000", "expiresAt": 12345}, "expiresAt"),
        ({"type": "limit", "limitPrice": "99000", "expiresAt": "tomorrow"}, "expiresAt"),
        ({"type": "limit", "limitPrice": "99000", "expiresAt": "9999-12-31T23:59:59+14:00"},
         "expiresAt"),
        ({"type": "limit", "limitPrice": "99000", "expiresAt": {"a": 1}}, "expiresAt"),
        ({"type": "limit", "limitPrice": "99000", "qty": "1" + "0" * 25}, "qty"),
    ],
)  # fmt: skip
async def test_absurd_and_wrongly_typed_fields_are_refused_naming_the_field(
    embedded: Stack, body: dict[str, Any], field: str
) -> None:
    session = await embedded.sign_in()
    await embedded.publish_price("BTC_USDC", "100000.0", "100001.0")
    response = await embedded.create_order(session, **body)
    assert response.status_code in (400, 422), response.text
    assert field in response.text, response.text
    assert "Traceback" not in response.text
    assert await pending_ids(embedded, session) == []


@pytest.mark.parametrize(
    "change",
    [
        {"limitPrice": True},
        {"qty": "0.000001"},  # finer than the instrument's lot
        {"qty": None},
        {"limitPrice": None},
        {"stopPrice": "90000"},  # the price field of the other type
        {"expiresAt": "2001-01-01T00:00:00Z"},
        {"trailingStop": "0.05"},  # finer than the price tick
        {},
        {"orderId": 5},
        {"orderId": "x" * 65},
    ],
)
async def test_bad_amends_are_refused_and_change_nothing(
    embedded: Stack, change: dict[str, Any]
) -> None:
    session = await embedded.sign_in()
    await embedded.publish_price("BTC_USDC", "100000.0", "100001.0")
    order = await place(embedded, session)
    body = {"orderId": order["orderId"]} | change
    response = await embedded.client.post(
        f"{API}/trade/amend-order", json=body, headers=session.auth
    )
    assert response.status_code == 422, response.text
    listed = await embedded.client.get(f"{API}/trade/get-pending-orders", headers=session.auth)
    assert listed.json()["orders"] == [order]


async def test_one_reservation_cannot_be_spent_twice(embedded: Stack) -> None:
    """Orders racing for the same free balance: only what the balance covers rests."""
    session = await embedded.sign_in()
    await embedded.publish_price("BTC_USDC", "100000.0", "100001.0")
    first = await place(embedded, session, qty="0.05", leverage=1, limitPrice="99000")  # 4950.00
    second = await embedded.create_order(
        session, type="limit", limitPrice="99000", qty="0.01", leverage=1
    )
    assert_error(second, 409, "insufficient_balance")
    assert await pending_ids(embedded, session) == [first["orderId"]]
    assert await embedded.balance(session) == {
        "balance": "50.00", "lockedMargin": "0.00", "orderMargin": "4950.00", "equity": "5000.00",
    }  # fmt: skip
