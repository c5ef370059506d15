"""Account events: every event that tells a user about their own account gets the next
number of that account's sequence (``seq``), in the order the engine emits them.

The numbering happens at the one place the engine hands its events out (``Engine.emit``),
so a new event kind is numbered without more work: every event is an account event except
the replies listed in ``NOT_ACCOUNT_EVENTS``. The counter is part of the account and of the
snapshot, so a restart that replays the stream gives every event the same number again:
(user, seq) identifies an event for good, and the durable log (``account_events``) can be
written idempotently.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from tradepro.domain.events import (
    AccountReported,
    AllClosed,
    CommandRejected,
    SessionEnded,
    UserRegistered,
)

NOT_ACCOUNT_EVENTS: frozenset[type] = frozenset(
    {CommandRejected, AccountReported, UserRegistered, SessionEnded, AllClosed}
)
"""Replies and notices that change nothing in an account's history: a refusal, a report,
a registration, a signed-out session, and a close-all's summary (each position it closed is
its own numbered ``closed`` event)."""

_OWNER_PATHS = ("user_id", "order.user_id", "ended.order.user_id", "trade.position.user_id",
                "position.user_id", "entry.user_id")  # fmt: skip
"""Where an event keeps its owner's id, tried in this order on its fields."""

owner_getters: dict[type, Callable[[object], object] | None] = {}
"""The getters ``owner_getter`` has made, by event class (the engine reads it first)."""


def owner_getter(kind: type) -> Callable[[object], object] | None:
    """How to read the owner of an account event of class ``kind``; None for the others."""
    try:
        return owner_getters[kind]
    except KeyError:
        pass
    getter: Callable[[object], object] | None = None
    if kind not in NOT_ACCOUNT_EVENTS:
        fields = getattr(kind, "_fields", ())
        for path in _OWNER_PATHS:
            if path.split(".", 1)[0] in fields:
                getter = attrgetter(path)
                break
    owner_getters[kind] = getter
    return getter
