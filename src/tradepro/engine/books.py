"""Trigger books: open positions indexed by the price at which they must close.

Each (asset, side) has two books, each of which only ever fires from one end:

============  ==============================  ===========================
book          fires when                      key (fires from the top)
============  ==============================  ===========================
buy profit    bid >= take-profit              min-heap on take-profit
buy stop      bid <= max(stop-loss, liq.)     max-heap on that level
sell profit   ask <= take-profit              max-heap on take-profit
sell stop     ask >= min(stop-loss, liq.)     min-heap on that level
============  ==============================  ===========================

A binary heap (``heapq``, in C) gives O(log n) insertion and O(1) look at the next level
to fire, so a tick that closes k positions costs O(log n + k log n) and a tick that closes
nothing costs four comparisons. Keys are single integers ``level << SEQ_BITS | seq``
(negated for max-heaps): no tuples, cheap comparisons, and ties broken by open order.

Positions closed for another reason are removed lazily: their keys stay until they reach
the top (and are then dropped) or until the heap holds more than twice its live entries,
when it is rebuilt in O(n). That keeps every removal O(1) and the amortized cost O(log n).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from heapq import heapify, heappop, heappush

from tradepro.domain.orders import Side

SEQ_BITS = 48
SEQ_MASK = (1 << SEQ_BITS) - 1
MAX_SEQ = SEQ_MASK
COMPACT_MIN_SLACK = 4096
"""Dead entries always tolerated before a rebuild is considered."""


class TriggerHeap:
    """One book: a heap of trigger keys and its number of live (still open) entries."""

    __slots__ = ("keys", "live", "maximum")

    def __init__(self, *, maximum: bool) -> None:
        self.keys: list[int] = []
        self.live = 0
        self.maximum = maximum

    def add(self, level: int, seq: int) -> None:
        key = (level << SEQ_BITS) | seq
        heappush(self.keys, -key if self.maximum else key)
        self.live += 1

    def pop_through(self, level: int, is_open: Callable[[int], bool]) -> Iterator[int]:
        """Yield the seqs of open positions whose level has been crossed by ``level``.

        A min-heap fires every key with key level <= ``level``; a max-heap every key
        with key level >= ``level``. Dead keys met on the way are dropped.
        """
        keys = self.keys
        if self.maximum:
            limit = -(level << SEQ_BITS)
            while keys and keys[0] <= limit:
                seq = (-heappop(keys)) & SEQ_MASK
                if is_open(seq):
                    yield seq
        else:
            limit = (level + 1) << SEQ_BITS
            while keys and keys[0] < limit:
                seq = heappop(keys) & SEQ_MASK
                if is_open(seq):
                    yield seq

    def removed(self, is_open: Callable[[int], bool]) -> None:
        """Note that one live entry was closed; rebuild when dead keys dominate."""
        self.live -= 1
        if len(self.keys) > 2 * self.live + COMPACT_MIN_SLACK:
            sign = -1 if self.maximum else 1
            self.keys = [key for key in self.keys if is_open((sign * key) & SEQ_MASK)]
            heapify(self.keys)

    def load(self, keys: list[int]) -> None:
        """Replace the contents with live keys ``level << SEQ_BITS | seq`` (O(n))."""
        self.keys = [-key for key in keys] if self.maximum else keys
        self.live = len(keys)
        heapify(self.keys)


class AssetBooks:
    """The four trigger books of one asset."""

    __slots__ = ("buy_profit", "buy_stop", "by_side", "sell_profit", "sell_stop")

    def __init__(self) -> None:
        self.buy_profit = TriggerHeap(maximum=False)
        self.buy_stop = TriggerHeap(maximum=True)
        self.sell_profit = TriggerHeap(maximum=True)
        self.sell_stop = TriggerHeap(maximum=False)
        self.by_side: dict[Side, tuple[TriggerHeap, TriggerHeap]] = {
            Side.BUY: (self.buy_profit, self.buy_stop),
            Side.SELL: (self.sell_profit, self.sell_stop),
        }
        """(take-profit book, stop book) of each side."""
