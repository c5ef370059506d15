"""Pending orders in the core benchmark (``engine_core.py --pending N``).

- ``build_pending``: ``N`` limit and stop orders, spread over the users, assets, sides and
  types, each 0.5 %..20 % away from the market on its waiting side, so that no in-band
  quote fills one (the quiet ticks must close and fill nothing).
- ``naive_pending_tick``: the scan a clone without books does on every price: every open
  position's triggers and every pending order's fill condition.
- ``measure_pending_commands``: place + cancel commands per second, typed, in rounds
  (each round places ``count // 2`` orders, then cancels them in shuffled order).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from time import perf_counter, perf_counter_ns, process_time_ns
from typing import Any, NamedTuple

from tradepro.domain.commands import CancelOrder, CreateOrder
from tradepro.domain.events import OrderPlaced
from tradepro.domain.order_ids import RANDOM_BITS, new_order_id
from tradepro.domain.orders import OrderType, Side
from tradepro.domain.pending import PendingOrder

MIN_AWAY_BPS = 50
MAX_AWAY_BPS = 2_000


def pending_order(bench: Any, ts_us: int) -> CreateOrder:
    """A valid limit or stop order that rests (away from the market on its waiting side)."""
    rng = bench.rng
    base = bench.maker.create(ts_us, rng.choice(bench.user_ids), bench.quotes)
    side, order_type = base.side, rng.choice((OrderType.LIMIT, OrderType.STOP))
    bid, ask = bench.quotes[base.asset]
    market = ask if side is Side.BUY else bid
    away = -(-market * rng.randint(MIN_AWAY_BPS, MAX_AWAY_BPS) // 10_000)
    below = (side is Side.BUY) == (order_type is OrderType.LIMIT)
    price = market - away if below else market + away
    direction = 1 if side is Side.BUY else -1
    take_profit = price + direction * away if base.take_profit is not None else None
    stop_loss = price - direction * away if base.stop_loss is not None else None
    return CreateOrder(
        new_order_id(ts_us // 1000, rng.getrandbits(RANDOM_BITS)), ts_us, base.user_id,
        base.asset, side, base.qty, base.leverage, take_profit, stop_loss,
        order_type=order_type, trigger_price=price,
    )  # fmt: skip


def build_pending(bench: Any, count: int) -> float:
    """Place ``count`` pending orders; returns the seconds it took."""
    engine = bench.engine
    started = perf_counter()
    for index in range(count):
        if index % 500 == 0:
            bench.requote()
        if index % 10_000 == 0:
            engine.drain_changes()
        (event,) = engine.apply(pending_order(bench, bench.clock(50)))
        if not isinstance(event, OrderPlaced):
            raise AssertionError(f"pending order {index} was not placed: {event}")
    engine.drain_changes()
    if len(engine.pending_by_seq) != count:
        raise AssertionError("the engine does not hold every pending order placed")
    return perf_counter() - started


def fills(order: PendingOrder, bid: int, ask: int) -> bool:
    if order.side is Side.BUY:
        return ask <= order.price if order.order_type is OrderType.LIMIT else ask >= order.price
    return bid >= order.price if order.order_type is OrderType.LIMIT else bid <= order.price


def naive_pending_scan(
    orders: Iterable[PendingOrder], quotes: dict[str, tuple[int, int]]
) -> list[PendingOrder]:
    """Every pending order's fill condition against its asset's latest quote."""
    buy, limit = Side.BUY, OrderType.LIMIT
    filled = []
    for order in orders:
        bid, ask = quotes[order.asset]
        price = order.price
        if order.side is buy:
            hit = ask <= price if order.order_type is limit else ask >= price
        else:
            hit = bid >= price if order.order_type is limit else bid <= price
        if hit:
            filled.append(order)
    return filled


class Commands(NamedTuple):
    per_s: float
    """The median round's place + cancel commands per wall second."""
    per_cpu_s: float
    place_us: float
    cancel_us: float


def measure_pending_commands(bench: Any, count: int, rounds: int) -> Commands:
    engine = bench.engine
    results = []
    for _ in range(rounds):
        bench.requote()
        places = [pending_order(bench, bench.clock()) for _ in range(max(1, count // rounds // 2))]
        cancels = [
            CancelOrder(bench.maker.order_id(), bench.clock(), place.user_id, place.request_id)
            for place in places
        ]
        bench.rng.shuffle(cancels)
        resting_before = len(engine.pending_by_seq)
        ledger_before = engine.ledger_total()
        apply = engine.apply
        cpu, start = process_time_ns(), perf_counter_ns()
        for command in places:
            apply(command)
        placed_ns = perf_counter_ns() - start
        if len(engine.pending_by_seq) != resting_before + len(places):
            raise AssertionError("some pending orders were refused")
        middle = perf_counter_ns()
        for cancel in cancels:
            apply(cancel)
        end, cpu_ns = perf_counter_ns(), process_time_ns() - cpu
        if len(engine.pending_by_seq) != resting_before or engine.ledger_total() != ledger_before:
            raise AssertionError("cancels left orders behind or the ledger broke")
        engine.drain_changes()
        commands = 2 * len(places)
        results.append(
            (commands / ((end - start) / 1e9), commands / (cpu_ns / 1e9),
             placed_ns / len(places) / 1e3, (end - middle) / len(places) / 1e3)
        )  # fmt: skip
    median = sorted(results)[len(results) // 2]
    return Commands(median[0], statistics.median(r[1] for r in results), median[2], median[3])
