"""``tradepro demo``: the in-memory engine on the simulated feed, logged in the terminal.

The engine stays pure; this module owns the loop, the clock and the output. Each tick
applies one ``price-update`` entry per asset (the feed's payloads, decoded exactly like
bus entries), then lets the demo traders act. Entry timestamps come from a monotonic
clock. Prices and trader decisions draw only from ``random.Random`` seeded with the demo
seed, so a seed replays the same trades; only the timing column differs between runs.
"""

from __future__ import annotations

import math
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

from tradepro.domain.commands import CloseOrder, Command, CreateOrder, RegisterUser
from tradepro.domain.events import CommandRejected, Event, PositionClosed, PositionOpened
from tradepro.domain.fixed import POW10, USD_DECIMALS, format_scaled
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS, Instrument
from tradepro.domain.order_ids import new_order_id, order_id_time_ms
from tradepro.domain.orders import Side
from tradepro.domain.positions import BASIS_POINTS
from tradepro.engine import Engine, EngineConfig
from tradepro.feeds.sim import SimulatedFeed
from tradepro.protocol.apply import apply_entry
from tradepro.protocol.kinds import Kind

TRADER_NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
LEVERAGES = (1, 2, 5, 10, 20, 50, 100)
OPEN_PROBABILITY = 0.04
"""Chance per trader per tick of opening an order."""
CLOSE_PROBABILITY = 0.01
"""Chance per trader per tick of closing one of their open positions."""
GREEDY_PROBABILITY = 0.08
"""Share of orders that ask for more margin than the free balance (shows a rejection)."""
LEVEL_PROBABILITY = 0.5
"""Chance that an order carries a take-profit, and (independently) a stop-loss."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    seed: int
    speed_hz: float = 10.0
    """Feed ticks per second; a status line comes every ``round(speed_hz)`` ticks (~1 s)."""
    duration_s: float | None = None
    """Stop by itself after this long (``speed_hz x duration_s`` ticks); None: until a signal."""
    traders: int = 5
    volatility_bps: float = 3.0
    instruments: Mapping[str, Instrument] = field(default_factory=lambda: DEFAULT_INSTRUMENTS)


@dataclass(slots=True)
class DemoStats:
    ticks: int = 0
    opened: int = 0
    closed: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    ledger_ok: bool = True
    """False once ``ledger_total() != deposits_cents`` was ever seen."""


class DemoTraders:
    """Random but seeded traders: open orders of 2-15 % of their free cash, close a few."""

    def __init__(self, rng: random.Random, engine: Engine, count: int) -> None:
        self.rng = rng
        self.engine = engine
        extra = (f"trader{n}" for n in range(len(TRADER_NAMES) + 1, count + 1))
        self.names = [*TRADER_NAMES[:count], *extra]
        self._opens = 0
        self._closes = 0

    def register(self, ts_us: int) -> list[Command]:
        return [RegisterUser(f"register-{name}", ts_us, name) for name in self.names]

    def decide(self, ts_us: int) -> list[Command]:
        """What the traders do this tick, in a fixed order."""
        commands: list[Command] = []
        rng = self.rng
        for name in self.names:
            positions = self.engine.accounts[name].positions
            if positions and rng.random() < CLOSE_PROBABILITY:
                order_id = rng.choice(list(positions))
                self._closes += 1
                commands.append(CloseOrder(f"close{self._closes}", ts_us, name, order_id))
            if rng.random() < OPEN_PROBABILITY:
                order = self._open(name, ts_us)
                if order is not None:
                    commands.append(order)
        return commands

    def _open(self, name: str, ts_us: int) -> CreateOrder | None:
        rng, engine = self.rng, self.engine
        asset = rng.choice(list(engine.config.instruments))
        instrument = engine.config.instruments[asset]
        quote = engine.quotes.get(asset)
        if quote is None:
            return None
        side = rng.choice((Side.BUY, Side.SELL))
        price = quote.ask if side is Side.BUY else quote.bid
        leverage = min(rng.choice(LEVERAGES), instrument.max_leverage)
        free = engine.accounts[name].balance
        if rng.random() < GREEDY_PROBABILITY:
            margin = free * rng.randint(1200, 2000) // 1000 + 100
        else:
            margin = free * rng.randint(20, 150) // 1000
        qty = _qty_for(instrument, price, margin * leverage)
        if qty <= 0:
            return None
        take_profit = self._level(price, +1 if side is Side.BUY else -1)
        stop_loss = self._level(price, -1 if side is Side.BUY else +1)
        self._opens += 1
        # Order ids are time-ordered UUIDs made at the engine's clock; the counter in their
        # random bits gives them the short label the log shows ("ord12", see _label).
        order_id = new_order_id(ts_us // 1000, self._opens)
        return CreateOrder(
            order_id, ts_us, name, asset, side, qty, leverage, take_profit, stop_loss
        )

    def _level(self, price: int, direction: int) -> int | None:
        """Sometimes a level 5-60 bps away from ``price``, in ``direction``."""
        if self.rng.random() >= LEVEL_PROBABILITY:
            return None
        distance = max(1, price * self.rng.randint(5, 60) // BASIS_POINTS)
        level = price + direction * distance
        return level if level > 0 else None


def _qty_for(instrument: Instrument, price: int, notional_cents: int) -> int:
    """Lots of the base asset worth ``notional_cents`` at ``price`` (rounded down)."""
    exponent = instrument.price_decimals + instrument.qty_decimals - USD_DECIMALS
    if exponent >= 0:
        return notional_cents * POW10[exponent] // price
    return notional_cents // (price * POW10[-exponent])


class DemoSession:
    """One demo run without time or I/O: each call returns the log lines it caused."""

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        instruments = options.instruments
        self.engine = Engine(EngineConfig(instruments=instruments))
        self.feed = SimulatedFeed(
            random.Random(f"feed:{options.seed}"),
            instruments,
            volatility_bps=options.volatility_bps,
        )
        self.traders = DemoTraders(
            random.Random(f"traders:{options.seed}"), self.engine, options.traders
        )
        self.stats = DemoStats()

    def start(self, ts_us: int) -> list[str]:
        return self._apply(self.traders.register(ts_us))

    def tick(self, ts_us: int) -> list[str]:
        """One feed step (a price update per asset), then the traders' orders."""
        self.stats.ticks += 1
        lines: list[str] = []
        for payload in self.feed.step_payloads():
            request_id = f"px{self.stats.ticks}-{payload['asset']}"
            events = apply_entry(self.engine, Kind.PRICE_UPDATE, request_id, ts_us, payload)
            lines.extend(self._record(events))
        lines.extend(self._apply(self.traders.decide(ts_us)))
        self.stats.ledger_ok &= self.ledger_ok()
        return lines

    def ledger_ok(self) -> bool:
        return self.engine.ledger_total() == self.engine.deposits_cents

    def status_lines(self) -> list[str]:
        engine = self.engine
        engine.drain_changes()  # nothing persists them here; keep memory flat on long runs
        instruments = engine.config.instruments
        prices = "   ".join(
            f"{asset} {_price(instruments[asset], q.bid)} / {_price(instruments[asset], q.ask)}"
            for asset, q in engine.quotes.items()
        )
        total, deposits = usd(engine.ledger_total()), usd(engine.deposits_cents)
        ledger = (
            f"ledger OK ({total} = deposits)"
            if self.ledger_ok()
            else f"ledger BROKEN ({total} != deposits {deposits})"
        )
        return [
            f"PRICES  [SIMULATED]  {prices}",
            f"STATUS  open {len(engine.open_by_seq)}  {self._totals()}  {ledger}",
        ]

    def summary_lines(self, how: str, elapsed_s: float) -> list[str]:
        stats = self.stats
        ledger = "OK" if stats.ledger_ok and self.ledger_ok() else "BROKEN"
        return [
            f"{how} after {elapsed_s:.2f}s: {stats.ticks} ticks, seed {self.options.seed}",
            f"  orders: {stats.opened} opened, {_counted(stats.closed, 'closed')},"
            f" {_counted(stats.rejected, 'rejected')}, {len(self.engine.open_by_seq)} still open",
            f"  money: {self._totals()}  house result {usd(self.engine.house_cents, signed=True)}"
            f"  ledger {ledger}",
        ]

    def _totals(self) -> str:
        engine = self.engine
        accounts = engine.accounts.values()
        balance = sum(account.balance for account in accounts)
        locked = sum(account.locked for account in accounts)
        unrealized = sum(engine.unrealized_pnl(p) or 0 for p in engine.open_by_seq.values())
        equity = balance + locked + unrealized
        return f"balance {usd(balance)}  locked {usd(locked)}  equity {usd(equity)}"

    def _apply(self, commands: Iterable[Command]) -> list[str]:
        lines: list[str] = []
        for command in commands:
            lines.extend(self._record(self.engine.apply(command)))
        return lines

    def _record(self, events: Iterable[Event]) -> list[str]:
        instruments = self.engine.config.instruments
        lines: list[str] = []
        for event in events:
            if isinstance(event, PositionOpened):
                self.stats.opened += 1
            elif isinstance(event, PositionClosed):
                self.stats.closed[event.trade.reason.value] += 1
            elif isinstance(event, CommandRejected):
                self.stats.rejected[event.reason.value] += 1
            line = render_event(event, instruments)
            if line is not None:
                lines.append(line)
        return lines


def render_event(event: Event, instruments: Mapping[str, Instrument]) -> str | None:
    """One log line for an event; None for events not worth a line (registrations)."""
    if isinstance(event, PositionOpened):
        p = event.position
        instrument = instruments[p.asset]
        levels = "".join(
            f"  {name} {_price(instrument, level)}"
            for name, level in (("TP", p.take_profit), ("SL", p.stop_loss))
            if level is not None
        )
        return (
            f"OPEN    {p.user_id:<6} {_label(p.order_id):<7} {p.side.value:<4}"
            f" {format_scaled(p.qty, instrument.qty_decimals)} {p.asset} x{p.leverage}"
            f" @ {_price(instrument, p.open_price)}  margin {usd(p.margin)}"
            f"  liq {_price(instrument, p.liquidation_price)}{levels}"
        )
    if isinstance(event, PositionClosed):
        trade = event.trade
        p = trade.position
        instrument = instruments[p.asset]
        reason = trade.reason.value + (" (liquidated)" if trade.liquidated else "")
        return (
            f"CLOSE   {p.user_id:<6} {_label(p.order_id):<7} {p.side.value:<4}"
            f" {format_scaled(p.qty, instrument.qty_decimals)} {p.asset}"
            f" @ {_price(instrument, trade.close_price)}  {reason:<11}"
            f"  PnL {usd(trade.pnl, signed=True)}  balance {usd(event.balance)}"
        )
    if isinstance(event, CommandRejected):
        who = event.user_id or "feed"
        label = _label(event.request_id)
        return f"REJECT  {who:<6} {label:<7} {event.reason.value}: {event.message}"
    return None


def _label(request_id: str) -> str:
    """``ord<n>`` for the demo's n-th order id (n is in its last 48 bits), else the id."""
    if order_id_time_ms(request_id) < 0:
        return request_id
    return f"ord{int(request_id[-12:], 16)}"


def usd(cents: int, *, signed: bool = False) -> str:
    """``$1,234.56`` from cents (``+$``/``-$`` when ``signed``); exact, never via float."""
    text = format_scaled(abs(cents), USD_DECIMALS)
    whole, _, fraction = text.partition(".")
    grouped = f"{int(whole):,}.{fraction}"
    sign = "-" if cents < 0 else ("+" if signed else "")
    return f"{sign}${grouped}"


def _price(instrument: Instrument, ticks: int) -> str:
    return format_scaled(ticks, instrument.price_decimals)


def _counted(counts: Counter[str], verb: str) -> str:
    detail = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    total = f"{sum(counts.values())} {verb}"
    return f"{total} ({detail})" if detail else total


class StopRequest:
    """Set by SIGINT or SIGTERM: the loop ends after the current tick and exits cleanly.

    A second SIGINT while stopping raises ``KeyboardInterrupt`` as usual.
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM here for the duration (main thread only)."""
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._handle) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_demo(
    options: DemoOptions,
    out: TextIO,
    stop: StopRequest,
    *,
    clock_ns: Callable[[], int] = time.monotonic_ns,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Tick the session at ``speed_hz`` until the duration ends or a stop is requested.

    Returns 0, or 1 if the ledger invariant was ever broken.
    """
    session = DemoSession(options)
    interval_ns = max(1, round(1e9 / options.speed_hz))
    status_every = max(1, round(options.speed_hz))
    max_ticks = None
    if options.duration_s is not None:
        max_ticks = max(1, math.ceil(options.duration_s * options.speed_hz))
    start_ns = clock_ns()

    def emit(lines: Iterable[str]) -> None:
        stamp = f"{(clock_ns() - start_ns) / 1e9:8.2f}s  "
        for line in lines:
            out.write(stamp + line + "\n")
        out.flush()

    until = f"for {options.duration_s:g}s" if options.duration_s is not None else "until Ctrl-C"
    out.write(
        f"TradePro demo: in-memory engine on a SIMULATED price feed, {options.traders} traders,"
        f" {options.speed_hz:g} ticks/s, {until} (seed {options.seed};"
        f" replay with --seed {options.seed})\n"
    )
    emit(session.start(start_ns // 1000))
    while max_ticks is None or session.stats.ticks < max_ticks:
        due_ns = start_ns + session.stats.ticks * interval_ns
        if not _wait_until(due_ns, stop, clock_ns, sleep):
            break
        emit(session.tick(clock_ns() // 1000))
        if session.stats.ticks % status_every == 0:
            emit(session.status_lines())
    how = f"Stopped by {stop.signal_name}" if stop.requested else "Finished"
    emit(session.summary_lines(how, (clock_ns() - start_ns) / 1e9))
    return 0 if session.stats.ledger_ok else 1


def _wait_until(
    due_ns: int, stop: StopRequest, clock_ns: Callable[[], int], sleep: Callable[[float], None]
) -> bool:
    """Sleep in short slices until ``due_ns``; False as soon as a stop is requested."""
    while not stop.requested:
        remaining_ns = due_ns - clock_ns()
        if remaining_ns <= 0:
            return True
        sleep(min(remaining_ns / 1e9, 0.05))
    return False
