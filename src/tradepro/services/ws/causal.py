"""Causal order between the two feeds: an order event never overtakes the quote behind it.

Prices and order events reach the server by separate readers (``engine-stream`` and
``callback-queue``), so a take-profit ``closed`` event could be read before the quote that
triggered it. Every engine callback carries ``entryId``, the ``engine-stream`` entry it
answers (for the engine's own closes: the ``price-update`` that closed the position). An
order event is therefore held until the price reader has handled that entry, then handed
to the fan-out. The fan-out is synchronous and each client's outbox is first in, first out,
so a client subscribed to the asset receives the quote before the event.

Rules (pure: the caller passes the monotonic time, so they are unit-tested as values):

- Events are released in the order they came (they are the engine's order), never
  dropped: one held event holds the ones behind it.
- An event without a (readable) ``entryId`` has nothing to wait for: it passes at once
  when nothing is held, else right after the events before it.
- An event is never held longer than ``max_hold_s``: if the price reader is stuck (its
  reads fail, or it has not started), events go out anyway, late rather than never.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, NamedTuple, TypeVar

from tradepro.bus.base import entry_order

ORDER_HOLD_MAX_S = 2.0
"""The longest an order event waits for its quote (the price reader is normally ahead by
milliseconds: the engine had to read that entry before it could close anything)."""

T = TypeVar("T")


class _Held(NamedTuple, Generic[T]):
    after: tuple[int, ...]
    deadline_s: float
    event: T


class CausalGate(Generic[T]):
    """Holds events until the price reader has passed the entries that caused them."""

    def __init__(self, max_hold_s: float = ORDER_HOLD_MAX_S) -> None:
        self.max_hold_s = max_hold_s
        self.passed: tuple[int, ...] | None = None
        """The order key of the last ``engine-stream`` entry the price reader handled."""
        self._held: deque[_Held[T]] = deque()
        self.released_late = 0
        """Events let go by ``max_hold_s`` rather than by their entry (a stuck reader)."""

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def next_deadline_s(self) -> float | None:
        """When the oldest held event must go at the latest (None when nothing is held)."""
        return self._held[0].deadline_s if self._held else None

    def offer(self, event: T, caused_by: str | None, now_s: float) -> list[T]:
        """Take ``event``, caused by entry ``caused_by``; the events to send now, in order."""
        after = _order_key(caused_by)
        if after is None:
            if not self._held:
                return [event]
            after = self._held[-1].after  # nothing of its own to wait for: keep the order
        self._held.append(_Held(after, now_s + self.max_hold_s, event))
        return self._release(now_s)

    def advance(self, entry_id: str, now_s: float) -> list[T]:
        """The price reader has handled ``entry_id`` (and everything before it)."""
        self.passed = entry_order(entry_id)
        return self._release(now_s) if self._held else []

    def expire(self, now_s: float) -> list[T]:
        """The events whose wait is over (the timer's side of ``max_hold_s``)."""
        return self._release(now_s)

    def _release(self, now_s: float) -> list[T]:
        released: list[T] = []
        held, passed = self._held, self.passed
        while held:
            head = held[0]
            if passed is not None and head.after <= passed:
                released.append(held.popleft().event)
            elif head.deadline_s <= now_s:
                self.released_late += 1
                released.append(held.popleft().event)
            else:
                break
        return released


def _order_key(entry_id: str | None) -> tuple[int, ...] | None:
    """``entry_order(entry_id)``; None for no id or one that is not an entry id."""
    if entry_id is None:
        return None
    try:
        return entry_order(entry_id)
    except ValueError:
        return None
