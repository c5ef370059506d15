"""Trailing stops and position management in the core benchmark
(``engine_core.py --trailing N``).

- ``build_trailing``: ``N`` BTC buys with a trailing stop, opened while the quote walks
  within the band (so their running extremes differ), each with its own distance of
  0.3 %..5 % of the price: wider than the band, so that none fires while they are opened.
- ``measure_trailing_ticks``: a BTC path that makes a new high on every tick (the bid one
  tick above the last), timed tick by tick; every tick must close nothing. The path stays
  within 0.3 % above the band, below every take-profit (0.5 % away at least) and every
  sell's liquidation (0.95 % away at 100x), so nothing else fires either.
- ``naive_trailing_tick``: the same tick done by updating every trailing position (its
  running extreme, then its level against the bid), as an engine without shared extremes
  must.
- ``measure_manage_commands``: modify (a new take-profit) + partial close (one lot) of
  open positions, typed, per second, in rounds.
"""

from __future__ import annotations

import statistics
from time import perf_counter, perf_counter_ns, process_time_ns
from typing import Any, NamedTuple

from tradepro.domain.commands import CloseOrder, ModifyOrder, UpdatePrice
from tradepro.domain.events import PositionClosed, PositionModified, PositionOpened
from tradepro.domain.order_ids import RANDOM_BITS, new_order_id
from tradepro.domain.orders import Side

ASSET = "BTC_USDC"
MIN_DISTANCE_BPS = 30
MAX_DISTANCE_BPS = 500
PATH_RISE_BPS = 30
"""How far above the band's top the rising path may go."""


def build_trailing(bench: Any, count: int) -> float:
    """Open ``count`` trailing BTC buys; returns the seconds it took."""
    engine, rng = bench.engine, bench.rng
    started = perf_counter()
    for index in range(count):
        if index % 500 == 0:
            bench.requote()
        if index % 10_000 == 0:
            engine.drain_changes()
        base = bench.maker.create(bench.clock(50), rng.choice(bench.user_ids), bench.quotes,
                                  asset=ASSET, side=Side.BUY)  # fmt: skip
        bid = bench.quotes[ASSET][0]
        distance = -(-bid * rng.randint(MIN_DISTANCE_BPS, MAX_DISTANCE_BPS) // 10_000)
        (event,) = engine.apply(base._replace(trailing_stop=distance))
        if not isinstance(event, PositionOpened):
            raise AssertionError(f"trailing order {index} was not opened: {event}")
    engine.drain_changes()
    return perf_counter() - started


class Band(NamedTuple):
    """Where the benchmark's quotes wander: the base mid, +/- basis points, the spread."""

    mid: int
    bps: int
    spread: int


def rising_path(bench: Any, ticks: int, band: Band) -> list[UpdatePrice]:
    """Up to ``ticks`` BTC quotes from just above the band's top, each bid above the last,
    rising at most ``PATH_RISE_BPS`` in all."""
    top = band.mid + band.mid * band.bps // 10_000
    rise = top * PATH_RISE_BPS // 10_000
    step = max(1, rise // ticks)
    return [
        UpdatePrice(bench.request_id("up"), bench.clock(), ASSET, bid, bid + band.spread)
        for bid in range(top + 1, top + 1 + min(ticks * step, rise), step)
    ]


def measure_trailing_ticks(bench: Any, ticks: int, band: Band) -> list[int]:
    """Time each tick of a rising path alone; none may close anything."""
    engine = bench.engine
    open_before = len(engine.open_by_seq)
    samples = []
    apply, clock = engine.apply, perf_counter_ns
    update = None
    for update in rising_path(bench, ticks, band):
        start = clock()
        events = apply(update)
        samples.append(clock() - start)
        if events:
            raise AssertionError(f"a rising tick closed {len(events)} positions")
    if len(engine.open_by_seq) != open_before:
        raise AssertionError("positions closed on the rising path")
    if update is not None:
        bench.quotes[ASSET] = (update.bid, update.ask)
    return samples


def naive_trailing_tick(extremes: list[list[int]], bid: int) -> int:
    """Update every trailing position's extreme and compare its level: the fired count."""
    fired = 0
    for state in extremes:
        state[0] = max(state[0], bid)
        if bid <= state[0] - state[1]:
            fired += 1
    return fired


def measure_naive_trailing(bench: Any, repetitions: int) -> list[int]:
    """The naive tick over a copy of every trailing position's (extreme, distance)."""
    engine = bench.engine
    book = engine.trailing[ASSET][0]
    by_seq = engine.open_by_seq
    extremes = [[extreme, by_seq[seq].trailing_stop] for seq, extreme in book.extremes()]
    bid = max(state[0] for state in extremes)
    samples = []
    for _ in range(repetitions):
        bid += 1
        start = perf_counter_ns()
        fired = naive_trailing_tick(extremes, bid)
        samples.append(perf_counter_ns() - start)
        if fired:
            raise AssertionError("the naive rising tick fired")
    return samples


class Commands(NamedTuple):
    per_s: float
    """The median round's modify + partial close commands per wall second."""
    per_cpu_s: float
    modify_us: float
    part_us: float


def measure_manage_commands(bench: Any, count: int, rounds: int) -> Commands:
    """Each round: modify ``count // rounds // 2`` open positions (a far take-profit),
    then close one lot of each (positions of at least two lots)."""
    engine, rng = bench.engine, bench.rng
    candidates = [p for p in engine.open_by_seq.values() if p.qty >= 2 and p.asset != ASSET]
    results = []
    for _ in range(rounds):
        for asset in bench.quotes:  # BTC stays where the rising path left it
            if asset != ASSET:
                update = bench.market.update(bench.request_id("px"), bench.clock(), asset)
                if engine.apply(update):
                    raise AssertionError("a requote within the band closed positions")
                bench.quotes[asset] = (update.bid, update.ask)
        chosen = rng.sample(candidates, min(len(candidates), max(1, count // rounds // 2)))
        modifies = []
        for position in chosen:
            bid, ask = bench.quotes[position.asset]
            far = bid * 2 if position.side is Side.BUY else ask // 2
            modifies.append(ModifyOrder(
                bench.maker.order_id(), bench.clock(), position.user_id, position.order_id,
                frozenset({"take_profit"}), take_profit=far,
            ))  # fmt: skip
        parts = []
        for position in chosen:
            ts_us = bench.clock()
            request_id = new_order_id(ts_us // 1000, rng.getrandbits(RANDOM_BITS))
            parts.append(CloseOrder(request_id, ts_us, position.user_id, position.order_id, 1))
        ledger_before = engine.ledger_total()
        apply = engine.apply
        cpu, start = process_time_ns(), perf_counter_ns()
        for command in modifies:
            (event,) = apply(command)
            if type(event) is not PositionModified:
                raise AssertionError(f"a modify was refused: {event}")
        middle = perf_counter_ns()
        for command in parts:
            (event,) = apply(command)
            if type(event) is not PositionClosed:
                raise AssertionError(f"a partial close was refused: {event}")
        end, cpu_ns = perf_counter_ns(), process_time_ns() - cpu
        if engine.ledger_total() != ledger_before:
            raise AssertionError("the ledger broke")
        engine.drain_changes()
        candidates = [p for p in engine.open_by_seq.values() if p.qty >= 2 and p.asset != ASSET]
        commands = 2 * len(chosen)
        results.append(
            (commands / ((end - start) / 1e9), commands / (cpu_ns / 1e9),
             (middle - start) / len(chosen) / 1e3, (end - middle) / len(chosen) / 1e3)
        )  # fmt: skip
    median = sorted(results)[len(results) // 2]
    return Commands(median[0], statistics.median(r[1] for r in results), median[2], median[3])
