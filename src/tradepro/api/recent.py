"""Trades closed moments ago, from the callbacks every API process already reads.

The engine writes a closed trade to the database right after it answers, usually within a
few milliseconds, but a reader must not depend on that race: ``close-order`` returns as
soon as the engine has closed the position, and a position closed by the engine itself
(take-profit, stop-loss, margin call) is announced to its owner over the WebSocket before
its row is written. So each API process keeps the ``closed`` callbacks it sees for a
short while and ``get-close-orders`` merges them with the rows: the history reads its own
writes without waiting for the database and without polling it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from tradepro.protocol.replies import closed_in

KEEP_S = 30.0
"""How long a closed trade is kept: far beyond the database write it stands in for."""
MAX_TRADES = 50_000
"""At most this many are kept (the oldest go first), whatever the rate of closes."""


class RecentCloses:
    """``closed`` callbacks per user for ``keep_s`` seconds, at most ``max_trades``."""

    def __init__(
        self,
        keep_s: float = KEEP_S,
        max_trades: int = MAX_TRADES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keep_s = keep_s
        self.max_trades = max_trades
        self._clock = clock
        self._by_user: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}
        self._expiry: deque[tuple[float, str, str]] = deque()

    def see(self, body: dict[str, Any]) -> None:
        """A ``Requester`` subscriber: keep the body's order if it is a closed trade."""
        closed = closed_in(body)
        if closed is None or closed.user_id is None or closed.closed_us is None:
            return
        order, user_id = closed.order, closed.user_id
        order_id = str(order.get("tradeId", order["orderId"]))  # partial closes: a row each
        now = self._clock()
        self._forget_old(now)
        self._by_user.setdefault(user_id, {})[order_id] = (closed.closed_us, order)
        self._expiry.append((now + self.keep_s, user_id, order_id))
        if len(self._expiry) > self.max_trades:
            self._drop_oldest()

    def of(self, user_id: str) -> list[tuple[int, dict[str, Any]]]:
        """The user's recent closed orders as ``(closed_us, order)``, in no set order
        (``closed_us`` is exact: the order's ``closedAt`` only has milliseconds)."""
        self._forget_old(self._clock())
        return list(self._by_user.get(user_id, {}).values())

    def _forget_old(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, user_id, order_id = self._expiry.popleft()
        orders = self._by_user.get(user_id)
        if orders is not None:
            orders.pop(order_id, None)
            if not orders:
                del self._by_user[user_id]
