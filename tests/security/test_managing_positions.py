"""Attacks on managing positions: other users' order ids (modify, partial close, close-all),
a replayed partial close on the bus, absurd and malformed numbers, a qty that is not a
multiple of the step or not below the open qty, huge and nested bodies, and a close entry
that names another asset than the position's."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.support.api import API, Session, Stack, assert_error
from tests.support.desk import Desk, rejected
from tests.support.frozen_clock import HOUR_START, FrozenClock
from tests.support.stack import CallbackCollector, eventually
from tradepro.domain.events import PositionClosed
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import RejectReason, Side
from tradepro.engine import EngineConfig

pytestmark = pytest.mark.integration

UNKNOWN = "3f1c1d2e-0000-4000-8000-000000000000"


def without_ids(message: str) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", message)


async def post(stack: Stack, session: Session, route: str, body: Any) -> Any:
    return await stack.client.post(f"{API}/trade/{route}", json=body, headers=session.auth)


async def opened(stack: Stack, session: Session, **fields: Any) -> dict[str, Any]:
    response = await stack.create_order(session, **({"qty": "0.01", "leverage": 10} | fields))
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


async def test_another_users_position_can_be_neither_modified_nor_closed(stack: Stack) -> None:
    alice, bob = await stack.sign_in(), await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    order = await opened(stack, alice, takeProfit="110000")
    order_id = order["orderId"]
    for route, extra in (
        ("modify-order", {"takeProfit": "100500", "stopLoss": None}),
        ("close-order", {"qty": "0.005"}),
        ("close-order", {}),
    ):
        stolen = assert_error(
            await post(stack, bob, route, {"orderId": order_id} | extra), 404, "order_not_found"
        )
        unknown = assert_error(
            await post(stack, bob, route, {"orderId": UNKNOWN} | extra), 404, "order_not_found"
        )
        assert without_ids(stolen["message"]) == without_ids(unknown["message"])  # no hint
    everything = await post(stack, bob, "close-all", {"asset": "BTC_USDC"})
    assert everything.status_code == 200 and everything.json()["orders"] == []
    [still] = await stack.open_orders(alice)
    assert (still["qty"], still["takeProfit"]) == ("0.01000", "110000.0")


async def test_a_replayed_partial_close_closes_once(embedded: Stack) -> None:
    """The same partial close entry on the bus twice (a replay, a retry by hand): the
    second is a duplicate and the position is closed by one part only."""
    stack = embedded
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    order_id = (await opened(stack, alice))["orderId"]
    collector = CallbackCollector(stack.context.bus)
    collector.start()
    try:
        request_id = new_order_id(time.time_ns() // 1_000_000, 9)
        payload = {"userId": alice.user_id, "orderId": order_id, "asset": "BTC_USDC",
                   "qty": "0.004"}  # fmt: skip
        for _ in range(2):
            await stack.context.bus.publish("close-order", payload, request_id)
        await eventually(lambda: len(collector.bodies.get(request_id, [])) == 2, 10, "replies")
    finally:
        await collector.stop()
    statuses = [body["status"] for body in collector.bodies[request_id]]
    assert statuses == ["closed", "duplicate_request"]
    [rest] = await stack.open_orders(alice)
    assert rest["qty"] == "0.00600"


async def test_a_close_entry_scaled_with_another_asset_is_refused(embedded: Stack) -> None:
    """An entry whose qty was scaled with another instrument than the position's: the
    engine refuses it rather than close a different amount."""
    stack = embedded
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    order_id = (await opened(stack, alice))["orderId"]
    collector = CallbackCollector(stack.context.bus)
    collector.start()
    try:
        request_id = new_order_id(time.time_ns() // 1_000_000, 11)
        payload = {"userId": alice.user_id, "orderId": order_id, "asset": "ETH_USDC",
                   "qty": "0.0040"}  # fmt: skip
        await stack.context.bus.publish("close-order", payload, request_id)
        await eventually(lambda: request_id in collector.bodies, 10, "the reply")
    finally:
        await collector.stop()
    [body] = collector.bodies[request_id]
    assert body["status"] == "invalid_order" and "asset" in body["message"]
    assert (await stack.open_orders(alice))[0]["qty"] == "0.01000"


@pytest.mark.parametrize(
    ("route", "extra", "status", "word"),
    [
        ("close-order", {"qty": "0.000001"}, 422, "qty"),  # not a multiple of the step
        ("close-order", {"qty": "0.01"}, 400, "qty"),  # the whole open qty
        ("close-order", {"qty": "99999999999999999999"}, 422, "qty"),
        ("close-order", {"qty": "1e999999"}, 422, "qty"),
        ("close-order", {"qty": "NaN"}, 422, "qty"),
        ("close-order", {"qty": [1]}, 422, "qty"),
        ("close-order", {"qty": True}, 422, "qty"),
        ("modify-order", {"takeProfit": "1" + "0" * 400}, 422, "takeProfit"),
        ("modify-order", {"stopLoss": "-5"}, 422, "stopLoss"),
        ("modify-order", {"trailingStop": "Infinity"}, 422, "trailingStop"),
        ("modify-order", {"trailingStop": {"a": {"b": [1, 2]}}}, 422, "trailingStop"),
        ("modify-order", {"takeProfit": "100000"}, 400, "takeProfit"),  # the bid: fires now
        ("modify-order", {"stopLoss": "100000"}, 400, "stopLoss"),
        ("modify-order", {"orderId": "x" * 10_000}, 422, "orderId"),
        ("modify-order", {"extra": 1}, 422, "extra"),
        ("close-all", {"asset": "BTC_USDC" * 100}, 422, "asset"),
        ("close-all", {"asset": ["BTC_USDC"]}, 422, "asset"),
    ],
)
async def test_absurd_input_is_refused_naming_the_field_and_changes_nothing(
    embedded: Stack, route: str, extra: dict[str, Any], status: int, word: str
) -> None:
    stack = embedded
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    order = await opened(stack, alice)
    body = {"orderId": order["orderId"]} if route != "close-all" else {}
    response = await post(stack, alice, route, body | extra)
    assert response.status_code == status, response.text
    assert word in response.json()["message"], response.text
    [still] = await stack.open_orders(alice)
    assert still == {**order, "unrealizedPnl": still["unrealizedPnl"],
                     "trailingStopPrice": None}  # fmt: skip


@pytest.mark.stack_settings(order_limit_per_s=3)
async def test_closes_and_changes_share_the_order_limit(stack: Stack, clock: FrozenClock) -> None:
    # Partial closes of one step and level changes are each an engine command: sent flat
    # out, they would make every other user's orders queue behind them.
    clock.now = HOUR_START  # the start of a one-second window
    alice = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    order_id = (await opened(stack, alice, qty="0.05"))["orderId"]  # 1 of 3
    close_part = {"orderId": order_id, "qty": "0.01"}
    assert (await post(stack, alice, "close-order", close_part)).status_code == 200  # 2
    modify = {"orderId": order_id, "takeProfit": "120000"}
    assert (await post(stack, alice, "modify-order", modify)).status_code == 200  # 3
    for route, body in (
        ("close-order", close_part),
        ("modify-order", {"orderId": order_id, "takeProfit": "130000"}),
        ("close-all", {}),
    ):
        refused = assert_error(await post(stack, alice, route, body), 429, "rate_limited")
        assert "orders" in refused["message"], refused
    (position,) = await stack.open_orders(alice)  # none of the refused ones reached the engine
    assert (position["qty"], position["takeProfit"]) == ("0.04000", "120000.0")

    clock.now = HOUR_START + 1  # the next second's window
    assert (await post(stack, alice, "close-all", {})).status_code == 200
    assert await stack.open_orders(alice) == []


def test_an_account_opens_a_bounded_number_of_positions() -> None:
    # Thousands of tiny positions (a cent of margin each) would make one close-all or
    # reset a command that holds the engine's loop and one reply of megabytes.
    desk = Desk(EngineConfig(max_open_per_account=3))
    desk.tick(999_990, 1_000_010)
    first = desk.opened(qty=1).position.order_id
    desk.opened(qty=1)
    desk.opened(Side.SELL, qty=1)
    refused = desk.order(qty=1)
    rejected(refused, RejectReason.INVALID_ORDER)
    assert refused.message == "at most 3 open positions per account: close some first"  # type: ignore[union-attr]
    desk.opened(qty=1, user="bob")  # another account is not limited by alice's
    assert isinstance(desk.close(first), PositionClosed)
    desk.opened(qty=1)  # room again
