"""An account event's message: what the ws ``orders`` channel sends, what
``account_events`` keeps, and what ``GET /account/events`` lists, the same JSON for all.

``{"type": "order", "event": <status>, "seq": <n>, "order": {...}}`` plus ``position``
(a fill's new position) and ``remaining`` (what a partial close left open) when present.
A reset or a deposit is ``{"type": "account", "event", "seq", "balance", "amount", "at",
...}`` (``account_fields``). An account event without an order (a kind added later)
carries its body's fields instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from tradepro.protocol.kinds import ACCOUNT_EVENTS, Status

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
    if status in ACCOUNT_EVENTS:
        message = account_fields(body)
        message["seq"] = seq
        return AccountEventMessage(user_id, seq, status, message)
    message = {"type": "order", "event": status, "seq": seq}
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


def account_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The message of a ``reset`` or ``deposit`` callback body: ``{"type": "account",
    "event", "balance", "amount", "at"}``, with ``depositAllowance`` (a deposit) or the
    ``closed`` and ``canceled`` counts (a reset: each close and cancel also comes as its
    own ``order`` message)."""
    status = body.get("status")
    message: dict[str, Any] = {
        "type": "account",
        "event": str(status),
        "balance": body.get("balance"),
        "amount": body.get("amount"),
        "at": body.get("at"),
    }
    if status == Status.DEPOSIT:
        message["depositAllowance"] = body.get("depositAllowance")
    else:
        message["closed"] = len(body.get("closedOrders") or ())
        message["canceled"] = len(body.get("canceledOrders") or ())
    return message
