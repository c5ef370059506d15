"""Pending orders on the wire: create-order with a type, cancel-order and amend-order
entries decoded (malformed ones refused naming the field), and the bodies rendered in the
REST shapes (docs/pending-orders.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.desk import Desk
from tradepro.domain.commands import AmendOrder, CancelOrder, CreateOrder, ReportAccount
from tradepro.domain.events import CommandRejected, OrderFilled, OrderPlaced
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.domain.orders import OrderType, RejectReason, Side
from tradepro.protocol.apply import apply_entry
from tradepro.protocol.decode import decode_entry
from tradepro.protocol.render import callback_body
from tradepro.protocol.replies import Account, Ended, Pending, order_event
from tradepro.services.ws.messages import order_message

U1 = "00000000-0000-4000-8000-000000000001"
O9 = "0000000a-0000-7000-8000-00000000000f"
R1 = "00000000-0000-7000-8000-0000000000a1"
ORDER = {"userId": U1, "asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10}


def decode(kind: str, payload: Any) -> object:
    return decode_entry(kind, R1, 5, payload, DEFAULT_INSTRUMENTS)


def test_a_limit_and_a_stop_order_decode_with_their_price_and_expiry() -> None:
    limit = decode("create-order", ORDER | {"type": "limit", "limitPrice": "99000.5",
                                            "expiresUs": 1_900_000_000_000_000})  # fmt: skip
    assert limit == CreateOrder(
        R1, 5, U1, "BTC_USDC", Side.BUY, 1_000, 10, order_type=OrderType.LIMIT,
        trigger_price=990_005, expires_us=1_900_000_000_000_000,
    )  # fmt: skip
    stop = decode("create-order", ORDER | {"type": "stop", "stopPrice": 101000})
    assert isinstance(stop, CreateOrder)
    assert (stop.order_type, stop.trigger_price, stop.expires_us) == (
        OrderType.STOP, 1_010_000, None,
    )  # fmt: skip
    market = decode("create-order", ORDER)
    assert isinstance(market, CreateOrder) and market.order_type is OrderType.MARKET


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "limit"}, "limitPrice"),
        ({"type": "stop", "limitPrice": "1"}, "limitPrice"),
        ({"type": "limit", "limitPrice": "1", "stopPrice": "2"}, "stopPrice"),
        ({"limitPrice": "1"}, "limitPrice"),
        ({"expiresUs": 5}, "expiresAt"),
        ({"type": "limit", "limitPrice": "1", "expiresUs": "5"}, "expiresAt"),
        ({"type": "limit", "limitPrice": "1", "expiresUs": True}, "expiresAt"),
        ({"type": "limit", "limitPrice": "1", "expiresUs": 10**20}, "expiresAt"),
        ({"type": "limit", "limitPrice": "1.05"}, "limitPrice"),  # finer than 0.1
        ({"type": "iceberg"}, "type"),
        ({"type": ["limit"]}, "type"),
        ({"trailingStop": "0.05"}, "trailingStop"),  # finer than 0.1
        ({"type": "limit", "limitPrice": "1", "trailingStop": "-5"}, "trailingStop"),
    ],
)
def test_malformed_pending_fields_are_invalid_orders_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    rejected = decode("create-order", ORDER | fields)
    assert isinstance(rejected, CommandRejected)
    assert rejected.reason is RejectReason.INVALID_ORDER
    assert rejected.message.startswith(field), rejected.message


def test_cancel_and_amend_decode() -> None:
    assert decode("cancel-order", {"userId": U1, "orderId": O9}) == CancelOrder(R1, 5, U1, O9)
    payload = {"userId": U1, "orderId": O9, "asset": "ETH_USDC", "stopPrice": "3000.01",
               "takeProfit": None, "qty": "0.5"}  # fmt: skip
    amend = decode("amend-order", payload)
    assert amend == AmendOrder(
        R1, 5, U1, O9, frozenset({"price", "take_profit", "qty"}), price=300_001, qty=5_000,
        asset="ETH_USDC",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"orderId": O9, "asset": "BTC_USDC"}, "nothing to amend"),
        ({"orderId": O9, "asset": "BTC_USDC", "qty": None}, "qty: cannot be cleared"),
        ({"orderId": O9, "asset": "BTC_USDC", "limitPrice": "1", "stopPrice": "1"}, "one price"),
        ({"orderId": O9, "limitPrice": "1"}, "asset"),
        ({"orderId": "nope", "asset": "BTC_USDC", "qty": "1"}, "orderId"),
        ({"orderId": O9, "asset": "BTC_USDC", "trailingStop": "0"}, "trailingStop"),
    ],
)
def test_malformed_amends_are_refused(payload: dict[str, Any], words: str) -> None:
    rejected = decode("amend-order", {"userId": U1} | payload)
    assert isinstance(rejected, CommandRejected), rejected
    assert words in rejected.message


def test_bodies_carry_the_rest_shapes_and_the_ws_passes_them_to_the_owner() -> None:
    desk = Desk()
    desk.tick(999_990, 1_000_010)
    placed = desk.placed(Side.SELL, OrderType.STOP, 990_000, expires_us=desk.now_us + 10**9)
    body = callback_body(placed, DEFAULT_INSTRUMENTS)
    assert body["status"] == "placed" and body["userId"] == "alice"
    assert body["order"] == {
        "orderId": placed.order.order_id, "asset": "BTC_USDC", "side": "sell", "type": "stop",
        "qty": "0.01000", "leverage": 10, "limitPrice": None, "stopPrice": "99000.0",
        "takeProfit": None, "stopLoss": None, "trailingStop": None, "reservedMargin": "99.00",
        "expiresAt": body["order"]["expiresAt"], "createdAt": body["order"]["createdAt"],
    }  # fmt: skip
    assert Pending.from_body(body).balance == "4901.00"
    [filled] = desk.tick(989_000, 989_010)
    assert isinstance(filled, OrderFilled)
    filled_body = callback_body(filled, DEFAULT_INSTRUMENTS)
    ended = Ended.from_body(filled_body)
    assert ended.order["status"] == "filled" and ended.order["fillPrice"] == "98900.0"
    assert ended.position is not None and ended.position["openPrice"] == "98900.0"
    event = order_event(filled_body)
    assert event is not None and event.position == ended.position
    message = order_message(filled_body)
    assert message is not None and message[0] == "alice"
    assert b'"event":"filled"' in message[1] and b'"position"' in message[1]
    [report] = desk.engine.apply(ReportAccount(desk.next_id(), desk.now_us, "alice", pending=True))
    account = Account.from_body(callback_body(report, DEFAULT_INSTRUMENTS))
    assert account.pending_orders == [] and account.order_margin == "0.00"


def test_a_malformed_entry_still_expires_what_is_due() -> None:
    """Every input is a moment of the engine's clock, even one it refuses."""
    desk = Desk()
    desk.tick(999_990, 1_000_010)
    placed = desk.placed(Side.BUY, OrderType.LIMIT, 990_000, expires_us=desk.now_us + 10)
    assert isinstance(placed, OrderPlaced)
    events = apply_entry(desk.engine, "close-order", R1, desk.now_us + 20, {"userId": 5})
    assert [event.status for event in events] == ["expired", "invalid_request"]
