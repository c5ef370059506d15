"""Typed views of ``callback-queue`` bodies: what the API's routes and the WebSocket server
read from a reply, by name, instead of picking a ``dict`` apart by hand.

Each view takes the fields its readers use and leaves the rest of the body alone; an
``order`` is the REST shape the engine rendered (``tradepro.protocol.render``) and is
passed on as it is. ``from_body`` expects a body of its status (a missing field raises
``KeyError``: a bug, not bad input); the ``..._in`` functions look at any body and
return None when it is not of their kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, Self

from tradepro.domain.orders import RejectReason
from tradepro.protocol.kinds import ORDER_EVENTS, Status

OrderShape = dict[str, Any]
"""An order in the REST shapes (docs/architecture.md "HTTP API"), as the engine rendered
it: passed on to clients unchanged."""

REJECTIONS = frozenset(RejectReason)
"""Every status that says the engine refused the command (its reason)."""


class ReplyView(Protocol):
    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self: ...


class Created(NamedTuple):
    """``created``: a position was opened."""

    order: OrderShape
    balance: str | None
    """The owner's free balance after the margin was locked."""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(body["order"], body.get("balance"))


class Closed(NamedTuple):
    """``closed``: a position was closed, by its owner or by a trigger."""

    order: OrderShape
    balance: str
    """The owner's free balance after the credit."""
    user_id: str | None = None
    closed_us: int | None = None
    """When, exactly (the order's ``closedAt`` has milliseconds only)."""
    remaining: OrderShape | None = None
    """After a partial close: the position that stays open."""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(
            body["order"],
            body["balance"],
            body.get("userId"),
            body.get("closedUs"),
            body.get("remaining"),
        )


class Modified(NamedTuple):
    """``modified``: an open position's levels changed (the get-open-orders shape)."""

    order: OrderShape
    balance: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(body["order"], body["balance"])


class AllClosedReply(NamedTuple):
    """``closed_all``: the answer to a close-all (every trade it closed)."""

    orders: list[OrderShape]
    balance: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(body["orders"], body["balance"])


class LedgerReply(NamedTuple):
    """``reset`` or ``deposit``: money put in or taken out of the account."""

    balance: str
    amount: str
    at: str
    deposit_allowance: str | None = None
    closed_orders: list[OrderShape] | None = None
    canceled_orders: list[OrderShape] | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(
            body["balance"],
            body["amount"],
            body["at"],
            body.get("depositAllowance"),
            body.get("closedOrders"),
            body.get("canceledOrders"),
        )


class Pending(NamedTuple):
    """``placed`` or ``amended``: a pending order rests (in the get-pending-orders shape)."""

    order: OrderShape
    balance: str
    """The owner's free balance after the reservation."""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(body["order"], body["balance"])


class Ended(NamedTuple):
    """``canceled``, ``expired`` or ``filled``: a pending order ended (history shape)."""

    order: OrderShape
    balance: str
    position: OrderShape | None = None
    """The position a ``filled`` order opened."""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(body["order"], body["balance"], body.get("position"))


class Account(NamedTuple):
    """``account``: the answer to ``get-account``."""

    balance: str
    locked_margin: str
    equity: str
    orders: list[OrderShape] | None
    """A page of open positions with ``unrealizedPnl``; None when they were not asked for."""
    next_cursor: str | None = None
    """Where the next page starts (the ``after`` of the next request); None at the end."""
    order_margin: str = "0.00"
    """Cents reserved by pending orders, as a decimal string."""
    pending_orders: list[OrderShape] | None = None
    """The pending orders, when asked for (``pending``) or when one was asked by id."""
    deposit_allowance: str | None = None
    """What may still be deposited today, as a decimal string."""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        orders, cursor = body.get("orders"), body.get("nextCursor")
        return cls(
            body["balance"],
            body["lockedMargin"],
            body["equity"],
            orders,
            cursor,
            body.get("orderMargin", "0.00"),
            body.get("pendingOrders"),
            body.get("depositAllowance"),
        )


class Registered(NamedTuple):
    """``registered``: the user exists (``created`` is False if it already did)."""

    balance: str
    created: bool

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(str(body.get("balance", "")), body.get("created") is True)


class SessionEnded(NamedTuple):
    """``session_ended``: a sign-out, passed on to every process reading the callbacks."""

    user_id: str | None
    token_id: str
    expires_at_s: int

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(body.get("userId"), body["tokenId"], body["expiresAt"])


class Rejected(NamedTuple):
    """A refusal: ``error`` is the reason (also the status), ``message`` plain words."""

    error: str
    message: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        status = str(body["status"])
        return cls(status, str(body.get("message", status)))


class OrderEvent(NamedTuple):
    """An order event's body (``ORDER_EVENTS``), as the owner's ``orders`` channel shows it."""

    status: str
    user_id: str
    order: OrderShape
    position: OrderShape | None = None
    """The position a ``filled`` order opened."""
    remaining: OrderShape | None = None
    """The position a partial close left open."""


def rejection_in(body: Mapping[str, Any]) -> Rejected | None:
    """The refusal a body carries, or None if it is not one."""
    return Rejected.from_body(body) if body.get("status") in REJECTIONS else None


def session_ended_in(body: Mapping[str, Any]) -> SessionEnded | None:
    """The ended session a ``session_ended`` body names; None for any other body."""
    if body.get("status") != Status.SESSION_ENDED:
        return None
    token_id, expires_at_s = body.get("tokenId"), body.get("expiresAt")
    if not isinstance(token_id, str) or not isinstance(expires_at_s, int):
        return None
    user_id = body.get("userId")
    return SessionEnded(user_id if isinstance(user_id, str) else None, token_id, expires_at_s)


def order_event(body: Mapping[str, Any]) -> OrderEvent | None:
    """The order event of a ``created``/``closed`` body with its owner; else None."""
    status, user_id, order = body.get("status"), body.get("userId"), body.get("order")
    if status not in ORDER_EVENTS or not isinstance(user_id, str) or not isinstance(order, dict):
        return None
    position, remaining = body.get("position"), body.get("remaining")
    return OrderEvent(
        str(status),
        user_id,
        order,
        position if isinstance(position, dict) else None,
        remaining if isinstance(remaining, dict) else None,
    )


def closed_in(body: Mapping[str, Any]) -> Closed | None:
    """A ``closed`` body with its owner, order id and exact close time; else None."""
    if body.get("status") != Status.CLOSED:  # most callbacks: one look, then done
        return None
    order, user_id, closed_us = body.get("order"), body.get("userId"), body.get("closedUs")
    if not isinstance(order, dict) or not isinstance(order.get("orderId"), str):
        return None
    if not isinstance(user_id, str) or not isinstance(closed_us, int):
        return None
    return Closed(order, str(body.get("balance", "")), user_id, closed_us)
