"""Bus entries become typed commands; anything malformed becomes a rejection, never a crash."""

from __future__ import annotations

from typing import Any

import pytest

from tradepro.domain.commands import CloseOrder, CreateOrder, EndSession, ReportAccount, UpdatePrice
from tradepro.domain.events import CommandRejected, SessionEnded
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.domain.orders import RejectReason, Side
from tradepro.engine import Engine
from tradepro.engine.snapshot import take_snapshot
from tradepro.protocol.apply import apply_entry
from tradepro.protocol.decode import decode_entry
from tradepro.protocol.render import callback_body

U1 = "00000000-0000-4000-8000-000000000001"
O9 = "0000000a-0000-4000-8000-00000000000f"
R1 = "00000000-0000-7000-8000-0000000000a1"  # a version 7 UUID: an order id
ORDER = {"userId": U1, "asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10}


def decode(kind: str, payload: Any) -> object:
    return decode_entry(kind, R1, 5, payload, DEFAULT_INSTRUMENTS)


def test_create_order_scales_every_number_with_the_instrument() -> None:
    payload = ORDER | {"takeProfit": "101000.5", "stopLoss": 99000, "price": "100000.0"}
    assert decode("create-order", payload | {"slippage": "25"}) == CreateOrder(
        R1, 5, U1, "BTC_USDC", Side.BUY, 1_000, 10, 1_010_005, 990_000, 1_000_000, 25
    )


def test_price_update_and_close_order() -> None:
    assert decode("price-update", {"asset": "ETH_USDC", "bid": "3500.01", "ask": "3500.02"}) == (
        UpdatePrice(R1, 5, "ETH_USDC", 350_001, 350_002)
    )
    assert decode("close-order", {"userId": U1, "orderId": O9}) == CloseOrder(R1, 5, U1, O9)


def test_get_account_lists_orders_unless_asked_not_to() -> None:
    assert decode("get-account", {"userId": U1}) == ReportAccount(R1, 5, U1, orders=True)
    summary = decode("get-account", {"userId": U1, "orders": False})
    assert summary == ReportAccount(R1, 5, U1, orders=False)


@pytest.mark.parametrize(
    ("kind", "payload", "reason", "field"),
    [
        ("create-order", ORDER | {"qty": "0.000001"}, RejectReason.INVALID_ORDER, "qty"),
        ("create-order", ORDER | {"qty": "NaN"}, RejectReason.INVALID_ORDER, "qty"),
        ("create-order", ORDER | {"qty": 0.01}, RejectReason.INVALID_ORDER, "qty"),
        ("create-order", ORDER | {"leverage": "2.5"}, RejectReason.INVALID_ORDER, "leverage"),
        ("create-order", ORDER | {"side": "long"}, RejectReason.INVALID_ORDER, "side"),
        ("create-order", ORDER | {"asset": "XYZ"}, RejectReason.INVALID_ORDER, "asset"),
        ("create-order", ORDER | {"asset": ["BTC_USDC"]}, RejectReason.INVALID_ORDER, "asset"),
        ("create-order", ORDER | {"takeProfit": "-1"}, RejectReason.INVALID_ORDER, "takeProfit"),
        ("create-order", ORDER | {"slippage": "0.5"}, RejectReason.INVALID_ORDER, "slippage"),
        ("create-order", {k: v for k, v in ORDER.items() if k != "userId"},
         RejectReason.INVALID_ORDER, "userId"),
        ("create-order", ORDER | {"userId": "u" * 65}, RejectReason.INVALID_ORDER, "userId"),
        ("close-order", {"userId": U1}, RejectReason.INVALID_REQUEST, "orderId"),
        ("close-order", {"userId": U1, "orderId": O9.upper()}, RejectReason.INVALID_REQUEST,
         "orderId"),
        ("close-order", {"userId": "u1", "orderId": O9}, RejectReason.INVALID_REQUEST, "userId"),
        ("price-update", {"asset": "BTC_USDC", "bid": "1.05", "ask": "2"},
         RejectReason.INVALID_PRICE, "bid"),
        ("get-account", {"userId": U1, "orders": "no"}, RejectReason.INVALID_REQUEST, "orders"),
        ("get-account", {"userId": U1, "orders": 0}, RejectReason.INVALID_REQUEST, "orders"),
        ("register-user", {"userId": 7}, RejectReason.INVALID_REQUEST, "userId"),
        ("register-user", ["not", "a", "dict"], RejectReason.INVALID_REQUEST, "userId"),
        ("withdraw-everything", {}, RejectReason.UNKNOWN_KIND, "withdraw-everything"),
    ],
)  # fmt: skip
def test_malformed_entries_are_rejected_with_the_field_named(
    kind: str, payload: Any, reason: RejectReason, field: str
) -> None:
    rejection = decode(kind, payload)
    assert isinstance(rejection, CommandRejected)
    assert rejection.reason is reason
    assert field in rejection.message


def test_engine_answers_a_malformed_entry_and_keeps_going() -> None:
    engine = Engine()
    [rejection] = apply_entry(engine, "create-order", "bad", 1, {"qty": {}})
    assert isinstance(rejection, CommandRejected)
    apply_entry(engine, "register-user", "r", 2, {"userId": U1})
    apply_entry(engine, "price-update", "p", 3, {"asset": "BTC_USDC", "bid": "10", "ask": "10.1"})
    [rejection] = apply_entry(engine, "create-order", "not-a-uuid", 4, ORDER)
    assert rejection.status == "invalid_order"
    [opened] = apply_entry(engine, "create-order", R1, 4, ORDER)
    assert opened.status == "created"


def test_end_session_passes_through_as_session_ended_and_changes_nothing() -> None:
    payload = {"userId": U1, "tokenId": "a1b2c3d4e5f6", "expiresAt": 1_800_000_000}
    assert decode("end-session", payload) == EndSession(R1, 5, U1, "a1b2c3d4e5f6", 1_800_000_000)
    engine = Engine()
    before = take_snapshot(engine)
    events = apply_entry(engine, "end-session", R1, 5, payload)
    assert events == [SessionEnded(R1, U1, "a1b2c3d4e5f6", 1_800_000_000)]
    assert callback_body(events[0], DEFAULT_INSTRUMENTS) == {
        "id": R1, "status": "session_ended", "userId": U1, "tokenId": "a1b2c3d4e5f6",
        "expiresAt": 1_800_000_000,
    }  # fmt: skip
    assert take_snapshot(engine) == before
    for bad in (
        {"userId": U1, "tokenId": "", "expiresAt": 1},
        {"userId": U1, "tokenId": "x" * 65, "expiresAt": 1},
        {"userId": U1, "tokenId": "has space", "expiresAt": 1},
        {"userId": U1, "tokenId": "ok", "expiresAt": "1"},
        {"userId": U1, "tokenId": "ok", "expiresAt": True},
        {"userId": "not-a-uuid", "tokenId": "ok", "expiresAt": 1},
    ):
        rejected = decode("end-session", bad)
        assert isinstance(rejected, CommandRejected), bad
        assert rejected.reason is RejectReason.INVALID_REQUEST
