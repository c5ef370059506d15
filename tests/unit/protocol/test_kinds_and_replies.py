"""The wire's names live in one place and the typed reply views read what the engine writes."""

from __future__ import annotations

from typing import get_args

import orjson

from tradepro.bus.requests import EVENT_STATUSES, peek_reply
from tradepro.domain.commands import Command
from tradepro.domain.events import (
    AccountReported,
    PositionClosed,
    PositionOpened,
    SessionEnded,
    UserRegistered,
)
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import RejectReason
from tradepro.engine import Engine
from tradepro.protocol import Kind, Status
from tradepro.protocol.apply import apply_entry
from tradepro.protocol.decode import decode_entry
from tradepro.protocol.kinds import ACCOUNT_EVENTS, ORDER_EVENTS
from tradepro.protocol.prices import PriceQuote, tradable_price
from tradepro.protocol.render import callback_body
from tradepro.protocol.replies import (
    Account,
    Closed,
    Created,
    Registered,
    closed_in,
    order_event,
    rejection_in,
    session_ended_in,
)

U1 = "00000000-0000-4000-8000-000000000001"
NOW_MS = 1_767_225_600_000
O1 = new_order_id(NOW_MS, 7)  # time-ordered, made "now": a valid order id


def test_every_kind_is_decoded_and_a_plain_string_is_the_same_kind() -> None:
    for kind in Kind:
        decoded = decode_entry(str(kind.value), "r", 1, {}, DEFAULT_INSTRUMENTS)
        assert getattr(decoded, "reason", None) is not RejectReason.UNKNOWN_KIND, kind
    assert Kind("create-order") is Kind.CREATE_ORDER
    assert {"create-order": 1}[Kind.CREATE_ORDER] == 1


def test_every_decoded_command_has_a_handler_in_the_engine() -> None:
    handled = set(Engine()._handlers)
    assert set(get_args(Command)) == handled


def test_the_engine_events_statuses_are_the_protocol_statuses() -> None:
    statuses = {
        UserRegistered: Status.REGISTERED,
        PositionOpened: Status.CREATED,
        PositionClosed: Status.CLOSED,
        AccountReported: Status.ACCOUNT,
        SessionEnded: Status.SESSION_ENDED,
    }
    for event_type, status in statuses.items():
        assert event_type.status.fget(None) == status  # type: ignore[attr-defined]


def test_the_price_reader_takes_only_what_the_engine_trades_on() -> None:
    good = {"asset": "ETH_USDC", "bid": "3500.01", "ask": "3500.02"}
    assert tradable_price(good, DEFAULT_INSTRUMENTS) == PriceQuote("ETH_USDC", 350_001, 350_002)
    for bad in (
        good | {"asset": "XYZ"},
        good | {"bid": "3500.001"},
        good | {"bid": "3500.03"},  # crossed
        good | {"bid": "0"},
        ["not", "a", "dict"],
    ):
        assert tradable_price(bad, DEFAULT_INSTRUMENTS) is None, bad


def _bodies() -> list[dict[str, object]]:
    engine = Engine()
    order = {"userId": U1, "asset": "BTC_USDC", "side": "buy", "qty": "1", "leverage": 2}
    quote = {"asset": "BTC_USDC", "bid": "10", "ask": "10.1"}
    entries = [
        (Kind.REGISTER_USER, "r1", {"userId": U1}),
        (Kind.PRICE_UPDATE, "p1", quote),
        (Kind.CREATE_ORDER, O1, order),
        (Kind.GET_ACCOUNT, "a1", {"userId": U1}),
        (Kind.CLOSE_ORDER, "c1", {"userId": U1, "orderId": O1}),
        (Kind.CLOSE_ORDER, "c2", {"userId": U1, "orderId": O1}),
    ]
    return [
        callback_body(event, DEFAULT_INSTRUMENTS)
        for step, (kind, request_id, payload) in enumerate(entries)
        for event in apply_entry(engine, kind, request_id, NOW_MS * 1000 + step, payload)
    ]


def test_the_reply_views_read_the_bodies_the_engine_renders() -> None:
    registered, created, account, closed, not_found = _bodies()
    assert Registered.from_body(registered) == Registered("5000.00", True)
    opened = Created.from_body(created)
    assert opened.order["orderId"] == O1
    assert opened.balance == "4994.95"
    report = Account.from_body(account)
    assert (report.balance, report.locked_margin) == ("4994.95", "5.05")
    assert [order["orderId"] for order in report.orders or ()] == [O1]
    done = Closed.from_body(closed)
    assert (done.order["reason"], done.user_id, done.closed_us) == ("user", U1, NOW_MS * 1000 + 4)
    assert closed_in(closed) == done
    assert closed_in(created) is None
    event = order_event(closed)
    assert event is not None
    assert (event.status, event.user_id) == ("closed", U1)
    assert order_event(account) is None
    rejected = rejection_in(not_found)
    assert rejected is not None
    assert rejected.error == "order_not_found"
    assert rejection_in(closed) is None


def test_a_session_ended_body_is_read_only_when_well_formed() -> None:
    body = {"status": "session_ended", "userId": U1, "tokenId": "t1", "expiresAt": 9}
    ended = session_ended_in(body)
    assert ended is not None
    assert (ended.token_id, ended.expires_at_s) == ("t1", 9)
    assert session_ended_in(body | {"expiresAt": "9"}) is None
    assert session_ended_in(body | {"status": "closed"}) is None


def test_the_engine_ignores_feed_reports_whatever_their_payload() -> None:
    engine = Engine()
    before = (dict(engine.accounts), dict(engine.quotes), engine.next_seq)
    for payload in ({"feed": "backpack", "state": "unreachable"}, {}, {"state": ["x"] * 100}):
        assert apply_entry(engine, Kind.FEED_STATUS, "f1", NOW_MS * 1000, payload) == []
    assert (dict(engine.accounts), dict(engine.quotes), engine.next_seq) == before
    assert not engine.changes.drain(lambda _user: 0)


def test_every_rendered_body_can_be_routed_without_parsing_it() -> None:
    """The Requester reads the id and the status of a callback from its prefix and parses
    only what its process awaits or subscribed to (``bus.requests.peek_reply``)."""
    ended = SessionEnded("s1", U1, "t1", 9)
    bodies = [*_bodies(), callback_body(ended, DEFAULT_INSTRUMENTS)]
    for body in bodies:
        assert peek_reply(orjson.dumps(body)) == (body["id"], body["status"])
    assert peek_reply(b'{"status":"closed","id":"x"}') is None  # another order: parsed
    assert peek_reply(b'{"id":"a\\"b","status":"closed"}') is None  # an escape: parsed
    assert ORDER_EVENTS | ACCOUNT_EVENTS | {Status.SESSION_ENDED} == EVENT_STATUSES
