"""``reset-account`` and ``deposit`` on the wire: decoded strictly (a malformed entry is a
rejection naming the field, never an exception), rendered as callback bodies that the
API's view and the ws ``account`` message read back."""

from __future__ import annotations

import orjson
import pytest

from tests.support.desk import Desk
from tradepro.domain.commands import Deposit, ResetAccount
from tradepro.domain.events import CommandRejected
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.domain.order_ids import new_order_id
from tradepro.protocol.decode import decode_entry
from tradepro.protocol.render import callback_body
from tradepro.protocol.replies import LedgerReply
from tradepro.services.ws.messages import order_message

USER = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
REQUEST = new_order_id(1_780_000_000_000, 7)


def _decode(kind: str, payload: object, request_id: str = REQUEST) -> object:
    return decode_entry(kind, request_id, 1, payload, DEFAULT_INSTRUMENTS)  # type: ignore[arg-type]


def test_well_formed_entries_decode_to_commands() -> None:
    assert _decode("deposit", {"userId": USER, "amount": "12.34"}) == Deposit(
        REQUEST, 1, USER, 1234
    )
    assert _decode("reset-account", {"userId": USER}) == ResetAccount(REQUEST, 1, USER, None)
    assert _decode("reset-account", {"userId": USER, "balance": "0"}) == ResetAccount(
        REQUEST, 1, USER, 0
    )


@pytest.mark.parametrize(
    ("kind", "payload", "request_id", "field"),
    [
        ("deposit", {"userId": USER}, REQUEST, "amount"),
        ("deposit", {"userId": USER, "amount": "0"}, REQUEST, "amount"),
        ("deposit", {"userId": USER, "amount": "-1"}, REQUEST, "amount"),
        ("deposit", {"userId": USER, "amount": "0.001"}, REQUEST, "amount"),
        ("deposit", {"userId": USER, "amount": 1.5}, REQUEST, "amount"),
        ("deposit", {"userId": USER, "amount": {"a": 1}}, REQUEST, "amount"),
        ("deposit", {"userId": "alice", "amount": "1"}, REQUEST, "userId"),
        ("deposit", {"userId": USER, "amount": "1"}, "not-a-uuid", "id"),
        ("reset-account", {"userId": USER, "balance": "-1"}, REQUEST, "balance"),
        ("reset-account", {"userId": USER, "balance": "1e9"}, REQUEST, "balance"),
        ("reset-account", {"userId": USER}, REQUEST.upper(), "id"),
    ],
)
def test_malformed_entries_are_rejections_naming_the_field(
    kind: str, payload: object, request_id: str, field: str
) -> None:
    decoded = _decode(kind, payload, request_id)
    assert isinstance(decoded, CommandRejected), decoded
    assert decoded.message.startswith(f"{field}:"), decoded.message


def test_bodies_round_trip_to_the_api_view_and_the_ws_message() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_010)
    opened = desk.opened()
    [deposited] = desk.engine.apply(Deposit(desk.next_id(), desk.now_us + 1, "alice", 2_500))
    body = orjson.loads(orjson.dumps(callback_body(deposited, DEFAULT_INSTRUMENTS)))
    assert body["status"] == "deposit" and body["userId"] == "alice"
    view = LedgerReply.from_body(body)
    assert (view.amount, view.deposit_allowance, view.closed_orders) == ("25.00", "99975.00", None)
    user, message, seq = order_message(body)  # type: ignore[misc]
    assert (user, seq) == ("alice", None)
    expected = {
        "type": "account", "event": "deposit", "balance": view.balance, "amount": "25.00",
        "at": view.at, "depositAllowance": "99975.00",
    }  # fmt: skip
    assert orjson.loads(message) == expected
    # Numbered by the engine (as the engine service sends it), it is an account event in
    # the same shape, with its seq: what the ws sends, the log keeps and the REST lists.
    user, message, seq = order_message(body | {"seq": 7})  # type: ignore[misc]
    assert (user, seq) == ("alice", 7)
    assert orjson.loads(message) == expected | {"seq": 7}

    *_, reset = desk.engine.apply(ResetAccount(desk.next_id(), desk.now_us + 2, "alice", 0))
    body = orjson.loads(orjson.dumps(callback_body(reset, DEFAULT_INSTRUMENTS)))
    view = LedgerReply.from_body(body)
    assert view.balance == "0.00" and view.canceled_orders == []
    [closed] = view.closed_orders or []
    assert (closed["orderId"], closed["reason"]) == (opened.position.order_id, "reset")
    _, message, _ = order_message(body)  # type: ignore[misc]
    assert orjson.loads(message)["closed"] == 1
    # anything else, or a body without its owner, is not an account message
    assert order_message({"status": "closed", "userId": "alice"}) is None
    assert order_message({"status": "deposit", "userId": None}) is None
