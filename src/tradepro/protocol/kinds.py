"""The names on the bus: the kinds of ``engine-stream`` entries and the statuses of
``callback-queue`` bodies (docs/architecture.md "Message kinds").

Both are ``StrEnum``s, so a member is the very string that travels (``Kind.CREATE_ORDER ==
"create-order"``) and a plain string read from the bus compares and hashes equal to it.
Rejection statuses are the engine's reasons (``tradepro.domain.orders.RejectReason``).
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What an ``engine-stream`` entry asks the engine to do."""

    PRICE_UPDATE = "price-update"
    REGISTER_USER = "register-user"
    CREATE_ORDER = "create-order"
    CLOSE_ORDER = "close-order"
    CANCEL_ORDER = "cancel-order"
    AMEND_ORDER = "amend-order"
    MODIFY_ORDER = "modify-order"
    CLOSE_ALL = "close-all"
    RESET_ACCOUNT = "reset-account"
    DEPOSIT = "deposit"
    GET_ACCOUNT = "get-account"
    END_SESSION = "end-session"
    FEED_STATUS = "feed-status"
    """The poller's feed health, for the WebSocket server; the engine ignores it."""


class Status(StrEnum):
    """What a ``callback-queue`` body announces, besides the rejections."""

    REGISTERED = "registered"
    CREATED = "created"
    CLOSED = "closed"
    PLACED = "placed"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    AMENDED = "amended"
    MODIFIED = "modified"
    CLOSED_ALL = "closed_all"
    ACCOUNT = "account"
    SESSION_ENDED = "session_ended"
    RESET = "reset"
    DEPOSIT = "deposit"


ORDER_EVENTS = frozenset(
    {
        Status.CREATED,
        Status.CLOSED,
        Status.PLACED,
        Status.FILLED,
        Status.CANCELED,
        Status.EXPIRED,
        Status.AMENDED,
        Status.MODIFIED,
    }
)
"""Statuses that announce an order's life to its owner (the ws ``orders`` channel)."""

ACCOUNT_EVENTS = frozenset({Status.RESET, Status.DEPOSIT})
"""Statuses that announce money put in or taken out of an account to its owner (the ws
``orders`` channel shows them as ``account`` messages)."""
