"""``max_stall_ms``: the longest single command over ``--stall-closes`` user closes.

The closes all hit one (asset, side), the oldest open BTC_USDC buys first, while as many
new BTC_USDC buys open (so the open count stays where it was): that side's stop book
holds about 18 % of all positions, so its dead keys outnumber its live ones within a
million closes at one million and at three million open positions, and the book compacts
(the take-profit book of that side too). Every create and every close is timed alone with
``perf_counter_ns`` and with ``thread_time_ns``: on a shared machine the longest wall
time is mostly the longest time the process was not scheduled, which its CPU time leaves
out (``max_stall_cpu_ms``). Closes and creates come in rounds of ``ROUND`` with a fresh
quote per asset between rounds (untimed), like the persistence loop's drain.
"""

from __future__ import annotations

from collections import deque
from time import perf_counter_ns, thread_time_ns
from typing import TYPE_CHECKING, NamedTuple

from _common import say
from tradepro.domain.commands import CloseOrder
from tradepro.domain.events import PositionClosed, PositionOpened
from tradepro.domain.orders import Side
from tradepro.engine.books import TriggerHeap

if TYPE_CHECKING:
    from engine_core import Bench

ASSET = "BTC_USDC"
SIDE = Side.BUY
ROUND = 10_000


class Stalls(NamedTuple):
    closes: int
    max_close_ms: float
    max_close_cpu_ms: float
    """The most CPU time one close took (the scheduler's pauses left out)."""
    p99_close_us: float
    median_close_us: float
    max_create_ms: float
    compactions: dict[str, int]
    """Compactions started, per book of the churned side."""
    largest_book: int
    """The most keys (live and dead) the churned stop book held."""


def measure_stalls(bench: Bench, closes: int) -> Stalls:
    engine = bench.engine
    apply, clock, cpu_clock = engine.apply, perf_counter_ns, thread_time_ns
    oldest_first = deque(
        (p.user_id, p.order_id)
        for p in engine.open_by_seq.values()
        if p.asset == ASSET and p.side is SIDE
    )
    profit, stop = engine.books[ASSET].by_side[SIDE]
    books: dict[str, TriggerHeap] = {"profit": profit, "stop": stop}
    compactions = dict.fromkeys(books, 0)
    open_before, ledger_before = len(engine.open_by_seq), engine.ledger_total()
    close_ns: list[int] = []
    max_create_ns = max_close_cpu_ns = largest_book = 0
    while len(close_ns) < closes:
        count = min(ROUND, closes - len(close_ns))
        bench.requote()
        for _ in range(count):
            command = bench.maker.create(
                bench.clock(), bench.rng.choice(bench.user_ids), bench.quotes, ASSET, SIDE
            )
            start = clock()
            (event,) = apply(command)
            max_create_ns = max(max_create_ns, clock() - start)
            if type(event) is not PositionOpened:
                raise AssertionError(f"a create was refused: {event}")
            oldest_first.append((command.user_id, command.request_id))
        for _ in range(count):
            user_id, order_id = oldest_first.popleft()
            command = CloseOrder(bench.request_id("close"), bench.clock(), user_id, order_id)
            compacting = {name: bool(book.retiring) for name, book in books.items()}
            cpu_start, start = cpu_clock(), clock()
            (event,) = apply(command)
            close_ns.append(clock() - start)
            max_close_cpu_ns = max(max_close_cpu_ns, cpu_clock() - cpu_start)
            if type(event) is not PositionClosed:
                raise AssertionError(f"a close was refused: {event}")
            for name, book in books.items():
                if book.retiring and not compacting[name]:
                    compactions[name] += 1
            largest_book = max(largest_book, books["stop"].size())
        engine.drain_changes()
        if len(close_ns) % (10 * ROUND) == 0:
            say(f"  {len(close_ns):>9,} closes, longest so far {max(close_ns) / 1e6:.3f} ms")
    if len(engine.open_by_seq) != open_before or engine.ledger_total() != ledger_before:
        raise AssertionError("the churn changed the open count or broke the ledger")
    close_ns.sort()
    return Stalls(
        closes=len(close_ns),
        max_close_ms=close_ns[-1] / 1e6,
        max_close_cpu_ms=max_close_cpu_ns / 1e6,
        p99_close_us=close_ns[int(len(close_ns) * 0.99)] / 1e3,
        median_close_us=close_ns[len(close_ns) // 2] / 1e3,
        max_create_ms=max_create_ns / 1e6,
        compactions=compactions,
        largest_book=largest_book,
    )
