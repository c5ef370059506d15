"""Pending order books: resting orders indexed by the price at which they fill.

Each asset has four books, one per side and type, each a ``TriggerHeap`` (the same heaps
as the positions' trigger books, with the same lazy removal and incremental compaction):

==========  ======================  ===========================
book        fills when              key (fires from the top)
==========  ======================  ===========================
buy limit   ask <= limit price      max-heap on the limit price
buy stop    ask >= stop price       min-heap on the stop price
sell limit  bid >= limit price      min-heap on the limit price
sell stop   bid <= stop price       max-heap on the stop price
==========  ======================  ===========================

A tick that fills nothing looks at four heap tops. Expiry has its own heap
(``ExpiryHeap``), keyed by expiry time, so an input that expires nothing costs one
comparison with the earliest expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tradepro.domain.orders import OrderType, Side
from tradepro.engine.books import SEQ_BITS, TriggerHeap

NEVER_US = 1 << 62
"""An expiry time no entry reaches: the due time of an empty expiry heap."""


class PendingBooks:
    """The four pending order books of one asset."""

    __slots__ = ("buy_limit", "buy_stop", "by_kind", "resting", "sell_limit", "sell_stop")

    def __init__(self) -> None:
        self.resting = 0
        """Orders resting in the four books: none, and a tick does not look at them."""
        self.buy_limit = TriggerHeap(maximum=True)
        self.buy_stop = TriggerHeap(maximum=False)
        self.sell_limit = TriggerHeap(maximum=False)
        self.sell_stop = TriggerHeap(maximum=True)
        self.by_kind: dict[tuple[Side, OrderType], TriggerHeap] = {
            (Side.BUY, OrderType.LIMIT): self.buy_limit,
            (Side.BUY, OrderType.STOP): self.buy_stop,
            (Side.SELL, OrderType.LIMIT): self.sell_limit,
            (Side.SELL, OrderType.STOP): self.sell_stop,
        }

    def fired(self, bid: int, ask: int, pending: Mapping[int, object]) -> list[int]:
        """The seqs of the orders this quote fills (removed from the heaps).

        Most ticks fill nothing: eight comparisons with the heaps' tops say so before any
        generator is made (a dead key at a top only sends the tick the slow way once)."""
        buy_limit, buy_stop = self.buy_limit, self.buy_stop
        sell_limit, sell_stop = self.sell_limit, self.sell_stop
        ask_max, ask_min = -(ask << SEQ_BITS), (ask + 1) << SEQ_BITS
        bid_max, bid_min = -(bid << SEQ_BITS), (bid + 1) << SEQ_BITS
        if not (
            (buy_limit.keys and buy_limit.keys[0] <= ask_max)
            or (buy_limit.retiring and buy_limit.retiring[0] <= ask_max)
            or (buy_stop.keys and buy_stop.keys[0] < ask_min)
            or (buy_stop.retiring and buy_stop.retiring[0] < ask_min)
            or (sell_limit.keys and sell_limit.keys[0] < bid_min)
            or (sell_limit.retiring and sell_limit.retiring[0] < bid_min)
            or (sell_stop.keys and sell_stop.keys[0] <= bid_max)
            or (sell_stop.retiring and sell_stop.retiring[0] <= bid_max)
        ):
            return []
        is_pending = pending.__contains__
        return [
            *self.buy_limit.pop_through(ask, is_pending),
            *self.buy_stop.pop_through(ask, is_pending),
            *self.sell_limit.pop_through(bid, is_pending),
            *self.sell_stop.pop_through(bid, is_pending),
        ]


class ExpiryHeap:
    """Pending orders with an expiry, by expiry time; ``due_us`` is the earliest key's
    time (perhaps of an order that has ended since: then popping it yields nothing)."""

    __slots__ = ("due_us", "heap")

    def __init__(self) -> None:
        self.heap = TriggerHeap(maximum=False)
        self.due_us = NEVER_US

    def add(self, expires_us: int, seq: int) -> None:
        self.heap.add(expires_us, seq)
        self.due_us = min(self.due_us, expires_us)

    def pop_due(self, now_us: int, is_pending: Callable[[int], bool]) -> list[int]:
        """The seqs of the orders expired at ``now_us`` (removed from the heap)."""
        fired = list(self.heap.pop_through(now_us, is_pending))
        self.due_us = _earliest(self.heap)
        return fired

    def load(self, keys: list[int]) -> None:
        self.heap.load(keys)
        self.due_us = _earliest(self.heap)


def _earliest(heap: TriggerHeap) -> int:
    tops = [key >> SEQ_BITS for key in (heap.keys[:1] + heap.retiring[:1])]
    return min(tops, default=NEVER_US)
