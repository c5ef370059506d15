"""An account event's message: what the ws ``orders`` channel sends, what
``account_events`` keeps, and what ``GET /account/events`` lists, the same JSON for all.

``{"type": "order", "event": <status>, "seq": <n>, "order": {...}}`` plus ``position``
(a fill's new position) and ``remaining`` (what a partial close left open) when present.
An account event without an order (a kind added later) carries its body's fields instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

_NOT_SHOWN = frozenset({"id", "status", "userId", "entryId", "seq", "closedUs"})
"""Body fields that are the bus's business, not the client's."""


class AccountEventMessage(NamedTuple):
    user_id: str
    seq: int
    kind: str
    message: dict[str, Any]


def account_event_message(body: Mapping[str, Any]) -> AccountEventMessage | None:
    """The message of a numbered account event's callback body, else None."""
    seq, user_id, status = body.get("seq"), body.get("userId"), body.get("status")
    if type(seq) is not int or not isinstance(user_id, str) or not isinstance(status, str):
        return None
    message: dict[str, Any] = {"type": "order", "event": status, "seq": seq}
    order = body.get("order")
    if isinstance(order, dict):
        message["order"] = order
        for key in ("position", "remaining"):
            value = body.get(key)
            if isinstance(value, dict):
                message[key] = value
    else:
        message.update((key, value) for key, value in body.items() if key not in _NOT_SHOWN)
    return AccountEventMessage(user_id, seq, status, message)
