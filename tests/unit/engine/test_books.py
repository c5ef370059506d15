"""A trigger book stays exact while it is compacted a slice at a time.

Random interleavings of adds, removals (positions closed by the user), replacements (a
position modified or partly closed: re-indexed under a new seq, at a new level or the same),
pops (ticks that cross levels, whose fired positions the engine then closes), peeks (ticks
that stop just short of the best live level and must fire nothing) and explicit compaction
slices are
applied to a ``TriggerHeap`` and to a reference model (a plain dict of the live entries),
with tiny slack and slices so that compactions start often and span many operations.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from random import Random
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tradepro.engine import books
from tradepro.engine.books import SEQ_BITS, SEQ_MASK, TriggerHeap

LEVELS = 24
"""Levels 0..23: few enough that ties and crossings are common."""
OPERATIONS = ("add",) * 4 + ("remove",) * 6 + ("replace",) * 3 + ("pop", "pop", "peek", "slice")


class Book:
    """A ``TriggerHeap`` beside the model of what it must hold: seq -> level of live entries."""

    def __init__(self, maximum: bool, *, count_events: bool = False) -> None:
        self.heap = TriggerHeap(maximum=maximum)
        self.maximum = maximum
        self.count_events = count_events
        """Tell Hypothesis how often compactions happen (only inside a ``@given`` test)."""
        self.live: dict[int, int] = {}
        self.next_seq = 1
        self.removals_left: int | None = None
        """While compacting: the removals within which the retiring heap must be gone."""
        self.died_while_compacting = 0
        """Keys that died during the last compaction after it had moved them: the dead keys
        a finished compaction may leave behind (the next removals compact them away)."""

    def is_open(self, seq: int) -> bool:
        return seq in self.live

    def crossed(self, key_level: int, level: int) -> bool:
        return key_level >= level if self.maximum else key_level <= level

    def add(self, level: int) -> None:
        self.heap.add(level, self.next_seq)
        self.live[self.next_seq] = level
        self.next_seq += 1

    def remove(self, seq: int) -> None:
        """What the engine does when it closes a position: forget it, then tell the book."""
        compacting = bool(self.heap.retiring)
        del self.live[seq]
        self.heap.removed(self.is_open)
        self.key_died(compacting)

    def replace(self, seq: int, level: int) -> None:
        """What a modify or a partial close does (``engine.manage``): the position takes
        a new seq, open before the book hears of it; its old key dies."""
        compacting = bool(self.heap.retiring)
        del self.live[seq]
        self.live[self.next_seq] = level
        self.heap.replaced(level, self.next_seq, self.is_open)
        self.next_seq += 1
        self.key_died(compacting)

    def key_died(self, compacting: bool) -> None:
        """Follow the compaction a dying key may have started or advanced."""
        if not compacting and self.heap.retiring:
            slice_size = books.COMPACT_SLICE
            self.removals_left = -(-(len(self.heap.retiring) + slice_size) // slice_size)
            self.died_while_compacting = 0
            self.note("a compaction started")
        if self.removals_left is not None:
            self.removals_left -= 1
            self.died_while_compacting += 1

    def note(self, what: str) -> None:
        if self.count_events:
            event(what)

    def pop(self, level: int) -> None:
        expected = sorted(seq for seq, at in self.live.items() if self.crossed(at, level))
        fired = list(self.heap.pop_through(level, self.is_open))
        assert sorted(fired) == expected, "fired exactly the crossed live entries, once each"
        if fired and self.heap.retiring:
            self.note("a tick fired while compacting")
        for seq in fired:
            self.remove(seq)

    def peek(self) -> None:
        """A tick one level short of the best live entry fires nothing."""
        if not self.live:
            return
        best = max(self.live.values()) if self.maximum else min(self.live.values())
        short_of_best = best + 1 if self.maximum else best - 1
        assert list(self.heap.pop_through(short_of_best, self.is_open)) == []

    def check(self) -> None:
        heap = self.heap
        for keys in (heap.keys, heap.retiring):
            assert all(keys[(i - 1) // 2] <= keys[i] for i in range(1, len(keys))), "a heap"
        entries = [(-key if self.maximum else key) for key in heap.keys + heap.retiring]
        held = [entry & SEQ_MASK for entry in entries]
        assert len(held) == len(set(held)), "no key is held twice"
        live_held = {entry & SEQ_MASK: entry >> SEQ_BITS for entry in entries}
        live_held = {seq: level for seq, level in live_held.items() if seq in self.live}
        assert live_held == self.live, "every live entry is held, at its level"
        assert heap.live == len(self.live)
        if heap.retiring:
            assert self.removals_left is not None and self.removals_left > 0, "compaction ends"
        else:
            self.removals_left = None
            dead = heap.size() - heap.live
            bound = heap.live + books.COMPACT_MIN_SLACK + self.died_while_compacting
            assert dead <= bound, "dead keys are bounded"


def run(book: Book, operations: list[tuple[str, int]]) -> None:
    for kind, seed in operations:
        rng = Random(seed)
        if kind == "add":
            for _ in range(rng.randint(1, 3)):
                book.add(rng.randrange(LEVELS))
        elif kind == "remove":
            for _ in range(min(rng.randint(1, 4), len(book.live))):
                book.remove(rng.choice(sorted(book.live)))
        elif kind == "replace":
            for _ in range(min(rng.randint(1, 3), len(book.live))):
                seq = rng.choice(sorted(book.live))
                book.replace(seq, book.live[seq] if rng.random() < 0.3 else rng.randrange(LEVELS))
        elif kind == "pop":  # mostly near the edge the book fires from: a few at a time
            edge = rng.randrange(4) if rng.random() < 0.8 else rng.randrange(-1, LEVELS + 1)
            book.pop(LEVELS - 1 - edge if book.maximum else edge)
        elif kind == "peek":
            book.peek()
        elif kind == "slice" and book.heap.retiring:
            book.heap.compact_slice(book.is_open)
        book.check()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    maximum=st.booleans(),
    slack=st.sampled_from([0, 1, 4]),
    slice_size=st.sampled_from([1, 2, 3, 8]),
    operations=st.lists(
        st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 2**32 - 1)),
        min_size=40,
        max_size=300,
    ),
)
def test_compaction_slices_keep_the_book_exact(
    maximum: bool, slack: int, slice_size: int, operations: list[tuple[str, int]]
) -> None:
    with (
        mock.patch.object(books, "COMPACT_MIN_SLACK", slack),
        mock.patch.object(books, "COMPACT_SLICE", slice_size),
    ):
        run(Book(maximum, count_events=True), operations)


@pytest.fixture
def small_books() -> Iterator[None]:
    with (
        mock.patch.object(books, "COMPACT_MIN_SLACK", 0),
        mock.patch.object(books, "COMPACT_SLICE", 4),
    ):
        yield


@pytest.mark.usefixtures("small_books")
def test_no_removal_moves_more_than_one_slice() -> None:
    """The work per command is bounded: one removal moves at most ``COMPACT_SLICE`` keys,
    however large the book (a whole rebuild used to happen inside one removal), and the
    compaction ends after a bounded number of removals."""
    book = Book(maximum=False)
    for level in range(1_000):
        book.add(level % LEVELS)
    pushes: list[int] = []
    original = heapq.heappush

    def counted(keys: list[int], key: int) -> None:
        pushes.append(key)
        original(keys, key)

    with mock.patch.object(books, "heappush", counted):
        for seq in (seq for seq in range(1, 1_001) if seq % 3):
            before = len(pushes)
            book.remove(seq)
            assert len(pushes) - before <= books.COMPACT_SLICE
            book.check()
    assert pushes, "compaction ran"
    assert book.heap.size() < 1_000, "dead keys were dropped"
