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
the top (and are then dropped) or until the heap holds more than twice its live entries.
Then the book is compacted incrementally, never in one step (a whole rebuild took 170 ms
at a million open positions and 520 ms at three million, and every command waited):

- the heap becomes the *retiring* heap, and an empty one takes its place: adds go there;
- every removal then moves ``COMPACT_SLICE`` keys off the retiring heap's end (what is
  left of a heap's array is still a heap) and pushes the live ones onto the new heap;
- meanwhile a tick fires from both heaps' tops (each key is in exactly one of them), so the
  book answers exactly as before, and the retiring heap is gone after about
  ``2 * live / COMPACT_SLICE`` removals.

Each removal so costs O(COMPACT_SLICE log n) at worst (tens of microseconds), and the
amortized cost stays O(log n).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from heapq import heapify, heappop, heappush
from operator import neg

from tradepro.domain.orders import Side

SEQ_BITS = 48
SEQ_MASK = (1 << SEQ_BITS) - 1
MAX_SEQ = SEQ_MASK
COMPACT_MIN_SLACK = 4096
"""Dead entries always tolerated before a compaction is considered."""
COMPACT_SLICE = 64
"""Keys moved off the retiring heap per removal while a book is compacted: at most tens of
microseconds per command, and a compaction ends well before as many keys die again."""


class TriggerHeap:
    """One book: a heap of trigger keys, the heap being compacted (if any) and the number
    of live (still open) entries in both."""

    __slots__ = ("keys", "live", "maximum", "retiring")

    def __init__(self, *, maximum: bool) -> None:
        self.keys: list[int] = []
        self.retiring: list[int] = []
        """The heap being compacted: its live keys move to ``keys`` a slice at a time."""
        self.live = 0
        self.maximum = maximum

    def add(self, level: int, seq: int) -> None:
        key = (level << SEQ_BITS) | seq
        heappush(self.keys, -key if self.maximum else key)
        self.live += 1

    def pop_through(self, level: int, is_open: Callable[[int], bool]) -> Iterator[int]:
        """Yield the seqs of open positions whose level has been crossed by ``level``.

        A min-heap fires every key with key level <= ``level``; a max-heap every key
        with key level >= ``level``. Dead keys met on the way are dropped. While the book
        is compacted, both heaps fire (in no particular order: the engine sorts by seq).
        """
        keys, retiring = self.keys, self.retiring
        if self.maximum:
            limit = -(level << SEQ_BITS)
            while keys and keys[0] <= limit:
                seq = (-heappop(keys)) & SEQ_MASK
                if is_open(seq):
                    yield seq
            while retiring and retiring[0] <= limit:
                seq = (-heappop(retiring)) & SEQ_MASK
                if is_open(seq):
                    yield seq
        else:
            limit = (level + 1) << SEQ_BITS
            while keys and keys[0] < limit:
                seq = heappop(keys) & SEQ_MASK
                if is_open(seq):
                    yield seq
            while retiring and retiring[0] < limit:
                seq = heappop(retiring) & SEQ_MASK
                if is_open(seq):
                    yield seq

    def replaced(self, level: int, seq: int, is_open: Callable[[int], bool]) -> None:
        """One live entry's key changed (its position was re-indexed under ``seq``): push
        the new key; the old one is dead. ``add`` then ``removed`` in one call."""
        key = (level << SEQ_BITS) | seq
        keys = self.keys
        heappush(keys, -key if self.maximum else key)
        if not self.retiring:
            if len(keys) <= 2 * self.live + COMPACT_MIN_SLACK:
                return
            self.retiring, self.keys = keys, []
        self.compact_slice(is_open)

    def removed(self, is_open: Callable[[int], bool]) -> None:
        """Note that one live entry was closed; compact a slice while dead keys dominate."""
        self.live -= 1
        if not self.retiring:
            if len(self.keys) <= 2 * self.live + COMPACT_MIN_SLACK:
                return
            self.retiring, self.keys = self.keys, []
        self.compact_slice(is_open)

    def compact_slice(self, is_open: Callable[[int], bool]) -> None:
        """Move up to ``COMPACT_SLICE`` keys off the retiring heap's end, keeping the live
        ones: a heap's array without its last entries is still a heap, and every key stays
        in exactly one of the two heaps."""
        retiring, keys = self.retiring, self.keys
        tail = retiring[-COMPACT_SLICE:]
        del retiring[-COMPACT_SLICE:]
        if self.maximum:
            for key in tail:
                if is_open((-key) & SEQ_MASK):
                    heappush(keys, key)
        else:
            for key in tail:
                if is_open(key & SEQ_MASK):
                    heappush(keys, key)

    def size(self) -> int:
        """Keys held, dead ones included (both heaps)."""
        return len(self.keys) + len(self.retiring)

    def load(self, keys: list[int]) -> None:
        """Replace the contents with live keys ``level << SEQ_BITS | seq`` (O(n))."""
        self.keys = list(map(neg, keys)) if self.maximum else keys
        self.retiring = []
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
