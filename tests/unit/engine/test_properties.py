"""Property tests of the engine on random command sequences.

A scenario is a list of steps over three instruments (with different decimal scales, one
with a leverage cap of 50): registrations, price ticks in a small band so that triggers
fire often, create-orders (leverage 1..100, random TP/SL sometimes on the wrong side,
slippage guards, malformed fields, reused ids (of open and of closed positions), ids made
too long ago or ahead of the clock, ids that are not time-ordered UUIDs), close-orders (own
ids, other users' ids, unknown ids) and clock jumps that make quotes stale. Steps are
turned into engine commands up front, independently of the engine, so the very same
commands can be replayed.

1. Every step agrees with ``reference.Reference``: a brute-force model written from
   docs/architecture.md with exact fractions, which scans all open positions on every tick and
   remembers every order id it ever opened; also across a snapshot -> JSON -> restore at
   a random step (an id used before the snapshot is refused after it).
2. Money is conserved (balances + locked + house == deposits), locked margin is the sum of
   the open margins, and every closed trade's PnL is recomputed exactly.
3. No balance and no locked margin ever goes negative.
4. snapshot -> JSON -> restore -> continue equals the straight run, and the drained change
   sets replay to the engine's balances and open positions.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from random import Random
from typing import Any, cast
from unittest import mock

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.engine_reference import (
    OrderRequest,
    Reference,
    RefPosition,
    Settlement,
    exact_margin_cents,
    margin_call_price,
)
from tradepro.domain.commands import CloseOrder, Command, CreateOrder, RegisterUser, UpdatePrice
from tradepro.domain.events import (
    CommandRejected,
    Event,
    PositionClosed,
    PositionOpened,
    UserRegistered,
)
from tradepro.domain.instruments import Instrument, instrument_table
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import CloseReason, RejectReason, Side
from tradepro.domain.positions import Position
from tradepro.engine import Engine, EngineConfig, books
from tradepro.engine.changes import ChangeSet
from tradepro.engine.snapshot import restore_snapshot, take_snapshot

INSTRUMENTS = instrument_table(
    [
        Instrument("BTC_USDC", price_decimals=1, qty_decimals=5),
        Instrument("SOL_USDC", price_decimals=2, qty_decimals=2),
        Instrument("TOY_USD", price_decimals=0, qty_decimals=1, max_leverage=50),
    ]
)
ASSETS = tuple(INSTRUMENTS)
UNKNOWN_ASSET = "NOPE_USD"
BASE_PRICE = {"BTC_USDC": 1_000, "SOL_USDC": 10_000, "TOY_USD": 1_000}
"""Centre of each asset's price band, in ticks ($100, $100, $1000)."""
MAX_QTY_EXPONENT = {"BTC_USDC": 6, "SOL_USDC": 3, "TOY_USD": 1}
"""qty = digit x 10**exponent lots: notionals from a fraction of a cent to ~$9000."""
MAX_AGE_US = 10_000_000
WINDOW_US = 4_000_000
"""The order id window, short so that reused ids outlive it within a scenario."""
LEAD_US = 1_000_000
CONFIG = EngineConfig(
    instruments=INSTRUMENTS,
    starting_balance_cents=100_000,
    max_price_age_us=MAX_AGE_US,
    order_id_window_us=WINDOW_US,
    order_id_lead_us=LEAD_US,
)
START_US = 1_780_000_000_000_000
"""The scenarios' first entry time (2026): order ids carry real times."""
ODD_IDS = (("old", -1), ("old", 0), ("ahead", 0), ("ahead", 1), ("v4", 0), ("text", 0))
"""Order ids other than fresh ones: made just before / at the horizon, at / just past the
lead, a random (version 4) UUID, not a UUID."""
USERS = ("u0", "u1", "u2", "u3")

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- scenarios ---------------------------------------------------------------------------


STEP_KINDS = ("tick",) * 7 + ("create",) * 6 + ("close",) * 3 + ("register",)
JUMPS = (MAX_AGE_US, MAX_AGE_US + 1, 3 * MAX_AGE_US)
GUARD_BPS = (0, 1, 10, 100)
CLOSE_MODES = ("own", "own", "own", "own", "other", "unknown")
steps = st.tuples(st.sampled_from(STEP_KINDS), st.integers(0, 2**32 - 1))
"""A step is a kind and a seed for its fields.

Hypothesis pays ~0.1 ms per draw; drawing every field of ~60 steps made generation cost
most of the run. With a seed per step, shrinking still deletes steps (what matters most
for a readable counterexample), and ``_raw_step`` aims at boundaries by construction.
"""


def _rarely(rng: Random, one_in: int) -> bool:
    return rng.randrange(one_in) == 0


def _raw_step(kind: str, seed: int, focus: int | None) -> tuple[Any, ...]:
    """The fields of one step, drawn from ``seed`` (layouts as ``_Builder`` reads them).

    ``focus``: the one asset every order and tick is about, else any asset.
    """
    rng = Random(seed)
    dt: int | tuple[str, int] = rng.choice(JUMPS) if _rarely(rng, 40) else rng.randint(0, 500_000)
    user = 3 if _rarely(rng, 12) else rng.randint(0, 2)  # u3 is only registered by a step
    if kind == "register":
        return (kind, dt, user)
    if _rarely(rng, 15):  # move the clock to the order's quote age limit, -1 / 0 / +1 us
        dt = ("edge", rng.randint(-1, 1))
    if kind == "close":
        far = _rarely(rng, 3)
        return (kind, dt, user, rng.choice(CLOSE_MODES), rng.randint(0, 100 if far else 2))
    asset = rng.randrange(len(ASSETS)) if focus is None else focus
    if kind == "tick":
        bid = rng.randint(-1000, 1000)  # per-mille of the band around the centre
        spread = -rng.randint(1, 1000) if _rarely(rng, 4) else rng.randint(0, 3)
        broken = rng.randint(0, 40)  # 1: ask < bid, 2: bid 0, 3: unknown asset
        aim = None if _rarely(rng, 3) else (rng.randint(0, 20), rng.randint(-1, 1))
        return (kind, dt, asset, bid, spread, broken, aim)
    side = rng.choice((Side.BUY, Side.SELL))
    exponent = -1 if _rarely(rng, 4) else rng.randint(0, 6)  # -1: half-cent PnLs
    leverage = rng.randint(1, 50)  # within every instrument's cap
    if _rarely(rng, 6):
        leverage = rng.choice((1, 100, rng.randint(51, 100)))  # TOY_USD's cap is 50
    levels = [_level(rng), _level(rng)]
    seen = rng.choice((0, rng.randint(-100, 100)))  # 0: exactly the price the order gets
    guard = (seen, rng.choice(GUARD_BPS)) if _rarely(rng, 4) else None
    breaker = rng.randint(0, 130)  # < 9 makes one field malformed
    reuse = rng.randint(0, 100) if _rarely(rng, 6) else None
    odd_id = rng.choice(ODD_IDS) if _rarely(rng, 10) else None
    digit = rng.randint(1, 9)
    fields = (side, digit, exponent, leverage, *levels, guard, breaker, reuse, odd_id)
    return (kind, dt, user, asset, *fields)


def _level(rng: Random) -> int | None:
    """A TP/SL distance from the open price in per-mille of the band; <= 0: wrong side."""
    if _rarely(rng, 20):
        return rng.randint(-100, 0)
    return None if rng.random() < 0.5 else rng.randint(1, 600)


@dataclass(frozen=True)
class Scenario:
    commands: list[Command]
    drains: frozenset[int]
    """Step indices after which ``drain_changes`` is called."""
    split: int
    """Where the resumed run snapshots and restores."""
    compact: str
    """How eagerly trigger books drop dead keys: "default", "eager" (no slack) or
    "always" (a rebuild on every removal, with live positions in the book)."""


class _Builder:
    """Turns raw steps into commands. Tracks only what the steps themselves determine."""

    def __init__(self, band_per_mille: int) -> None:
        self.band = {a: max(2, BASE_PRICE[a] * band_per_mille // 1000) for a in ASSETS}
        self.clock = START_US
        self.quotes: dict[str, tuple[int, int]] = {}
        self.quoted_at: dict[str, int] = {}
        self.asset_of: dict[str, str] = {}
        self.edge: int | None = None
        self.submitted: dict[str, list[str]] = {user: [] for user in USERS}
        self.targets: dict[str, list[tuple[Side, int]]] = {asset: [] for asset in ASSETS}
        """Trigger levels of the orders sent so far (TP, SL, margin call), to aim ticks at."""

    def build(self, index: int, step: tuple[Any, ...]) -> Command:
        dt = step[1]
        if isinstance(dt, int):
            self.clock += dt
            self.edge = None
        else:  # ("edge", delta): see _to_edge
            self.edge = dt[1]
        handler: Callable[[int, tuple[Any, ...]], Command] = getattr(self, f"_{step[0]}")
        return handler(index, step[2:])

    def _register(self, index: int, raw: tuple[Any, ...]) -> Command:
        return RegisterUser(f"g{index}", self.clock, USERS[raw[0]])

    def _tick(self, index: int, raw: tuple[Any, ...]) -> Command:
        asset_index, bid_raw, spread_raw, broken, aim = raw
        asset = ASSETS[asset_index]
        band = self.band[asset]
        bid = max(1, BASE_PRICE[asset] + bid_raw * band // 1000)
        spread = spread_raw if spread_raw >= 0 else -spread_raw * band // 1000
        ask = bid + spread
        targets = self.targets[asset]
        if aim is not None and targets:
            side, level = targets[-1 - aim[0] % len(targets)]
            if side is Side.BUY:  # buys trigger on the bid
                bid = max(1, level + aim[1])
                ask = bid + spread
            else:  # sells on the ask
                ask = max(1, level + aim[1])
                bid = max(1, ask - spread)
        if broken == 1:
            ask = bid - 1
        elif broken == 2:
            bid = 0
        elif broken == 3:
            asset = UNKNOWN_ASSET
        else:
            self.quotes[asset] = (bid, ask)
            self.quoted_at[asset] = self.clock
        return UpdatePrice(f"t{index}", self.clock, asset, bid, ask)

    def _create(self, index: int, raw: tuple[Any, ...]) -> Command:
        user_index, asset_index, side, digit, exponent, leverage, tp, sl, guard, breaker = raw[:10]
        reuse, odd_id = raw[10:]
        user, asset = USERS[user_index], ASSETS[asset_index]
        band = self.band[asset]
        bid, ask = self.quotes.get(asset, (BASE_PRICE[asset], BASE_PRICE[asset]))
        ref, sign = (ask, 1) if side is Side.BUY else (bid, -1)
        self._to_edge(asset)
        own = self.submitted[user]
        if reuse is not None and own:
            order_id = own[reuse % len(own)]
        else:
            order_id = self._order_id(index, odd_id)
        own.append(order_id)
        self.asset_of[order_id] = asset
        fields: dict[str, Any] = {
            "asset": asset,
            "qty": _quantity(asset, digit, exponent),
            "leverage": leverage,
            "take_profit": None if tp is None else ref + sign * _distance(tp, band),
            "stop_loss": None if sl is None else ref - sign * _distance(sl, band),
            "price": None if guard is None else max(1, ref + guard[0] * band // 1000),
            "slippage_bps": None if guard is None else guard[1],
        }
        fields.update(_BREAKERS.get(breaker, {}))
        self._note_targets(side, ref, fields)
        return CreateOrder(order_id, self.clock, user, side=side, **fields)

    def _order_id(self, index: int, odd: tuple[str, int] | None) -> str:
        """A fresh version 7 id made now, or one of ``ODD_IDS``."""
        now_ms = self.clock // 1000
        kind, delta = odd or ("fresh", 0)
        if kind == "v4":
            return str(uuid.UUID(int=index, version=4))
        if kind == "text":
            return f"o{index}"
        made_ms = {"fresh": now_ms, "old": now_ms - WINDOW_US // 1000, "ahead": now_ms}[kind]
        made_ms += delta + (LEAD_US // 1000 if kind == "ahead" else 0)
        return new_order_id(made_ms, index)

    def _to_edge(self, asset: str | None) -> None:
        """Put the clock exactly at the staleness limit of ``asset``'s quote, +- 1 us."""
        if self.edge is not None and asset in self.quoted_at:
            self.clock = max(self.clock, self.quoted_at[asset] + MAX_AGE_US + self.edge)

    def _note_targets(self, side: Side, open_price: int, fields: dict[str, Any]) -> None:
        asset, qty, leverage = fields["asset"], fields["qty"], fields["leverage"]
        if asset not in INSTRUMENTS or qty <= 0 or leverage <= 0:
            return
        instrument = INSTRUMENTS[asset]
        prices = [fields["take_profit"], fields["stop_loss"]]
        margin = exact_margin_cents(instrument, open_price, qty, leverage)
        boundary = margin_call_price(instrument, side, open_price, qty, margin)
        prices += [math.floor(boundary), math.ceil(boundary)]
        self.targets[asset] += [(side, price) for price in prices if price is not None]

    def _close(self, index: int, raw: tuple[Any, ...]) -> Command:
        user_index, mode, pick = raw
        user = USERS[user_index]
        if mode == "own":
            pool = self.submitted[user]
        elif mode == "other":
            pool = [i for u, ids in self.submitted.items() if u != user for i in ids]
        else:
            pool = []
        order_id = pool[-1 - pick % len(pool)] if pool else f"x{index}"
        self._to_edge(self.asset_of.get(order_id))
        return CloseOrder(f"c{index}", self.clock, user, order_id)


def _quantity(asset: str, digit: int, exponent: int) -> int:
    """digit x 10**exponent lots; with exponent -1, a qty whose PnL is ``digit`` half cents
    per tick, so that odd moves of an odd digit end on exact half cents (rounding ties)."""
    if exponent >= 0:
        lots: int = 10 ** min(exponent, MAX_QTY_EXPONENT[asset])
        return digit * lots
    instrument = INSTRUMENTS[asset]
    half_cent: int = 5 * 10 ** max(instrument.price_decimals + instrument.qty_decimals - 3, 0)
    return digit * half_cent


def _distance(per_mille: int, band: int) -> int:
    """A level's distance in ticks: at least one tick when meant to be on the right side."""
    distance = per_mille * band // 1000
    return max(distance, 1) if per_mille > 0 else distance


_BREAKERS: dict[int, dict[str, Any]] = {
    0: {"qty": 0},
    1: {"qty": -5},
    2: {"leverage": 0},
    3: {"leverage": 101},
    4: {"take_profit": 0},
    5: {"price": 1_000, "slippage_bps": None},
    6: {"price": 1_000, "slippage_bps": 10_001},
    7: {"price": 0, "slippage_bps": 10},
    8: {"asset": UNKNOWN_ASSET},
}


SLACK = {
    "default": (books.COMPACT_MIN_SLACK, books.COMPACT_SLICE),
    "eager": (0, 1),
    "eager-sliced": (0, 3),
    "always": (-(10**9), 2),
}
"""(COMPACT_MIN_SLACK, COMPACT_SLICE) per ``Scenario.compact``: dead keys tolerated before a
book compacts, and keys moved per removal (small slices keep a compaction going across
many commands, ticks included)."""


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    band = draw(st.sampled_from([5, 30, 300, 950]))
    # Mostly start warm (three users, a quote per asset) so that most orders can open.
    warm_users = min(draw(st.integers(0, 23)), 3)  # all three warm users 7 times in 8
    prefix: list[tuple[Any, ...]] = [("register", 0, user) for user in range(warm_users)]
    for asset in range(len(ASSETS)):
        if draw(st.integers(0, 4)):
            prefix.append(("tick", 0, asset, draw(st.integers(-1000, 1000)), 1, 0, None))
    # One asset in a third of the scenarios: more positions per trigger book, so that
    # dead keys pile up and the books' compaction runs with live positions in them.
    focus = draw(st.none() | st.none() | st.integers(0, len(ASSETS) - 1))
    drawn = draw(st.lists(steps, min_size=20, max_size=100))
    raw_steps = prefix + [_raw_step(kind, seed, focus) for kind, seed in drawn]
    builder = _Builder(band)
    commands = [builder.build(index, step) for index, step in enumerate(raw_steps)]
    drain_rng = Random(draw(st.integers(0, 2**32 - 1)))
    drains = frozenset(i for i in range(len(commands)) if _rarely(drain_rng, 5))
    split = draw(st.integers(0, len(commands)))
    return Scenario(commands, drains, split, draw(st.sampled_from(sorted(SLACK))))


@contextlib.contextmanager
def compaction(scenario: Scenario) -> Iterator[None]:
    slack, slice_size = SLACK[scenario.compact]
    with (
        mock.patch.object(books, "COMPACT_MIN_SLACK", slack),
        mock.patch.object(books, "COMPACT_SLICE", slice_size),
    ):
        yield


# -- checking one step against the reference ----------------------------------------------


def _request(command: CreateOrder) -> OrderRequest:
    return OrderRequest(
        command.request_id,
        command.ts_us,
        command.user_id,
        command.asset,
        command.side,
        command.qty,
        command.leverage,
        command.take_profit,
        command.stop_loss,
        command.price,
        command.slippage_bps,
    )


def _same_position(position: Position, expected: RefPosition) -> None:
    fields = (
        "seq",
        "order_id",
        "user_id",
        "asset",
        "side",
        "qty",
        "leverage",
        "open_price",
        "margin",
        "take_profit",
        "stop_loss",
    )
    assert {name: getattr(position, name) for name in fields} == {
        name: getattr(expected, name) for name in fields
    }


def _as_settlement(closed: PositionClosed) -> Settlement:
    trade = closed.trade
    position = trade.position
    return Settlement(
        position.seq,
        position.order_id,
        position.user_id,
        trade.close_price,
        trade.reason,
        trade.pnl,
        closed.balance,
    )


def _check_closes(
    events: Sequence[Event],
    expected: Sequence[Settlement],
    before: dict[int, RefPosition],
    command: UpdatePrice | CloseOrder,
) -> None:
    assert all(isinstance(e, PositionClosed) for e in events), events
    closed = cast(Sequence[PositionClosed], events)
    assert [_as_settlement(e) for e in closed] == list(expected)
    for e in closed:
        assert e.request_id == command.request_id
        assert e.trade.closed_us == command.ts_us
        assert e.trade.liquidated == (e.trade.reason is CloseReason.MARGIN_CALL)
        assert e.trade.pnl >= -e.trade.position.margin
        _same_position(e.trade.position, before[e.trade.position.seq])
        event(f"closed: {e.trade.reason.value}")


def _check_register(ref: Reference, command: RegisterUser, events: list[Event]) -> None:
    created, balance = ref.register(command.user_id)
    assert events == [UserRegistered(command.request_id, command.user_id, balance, created)]


def _check_tick(ref: Reference, command: UpdatePrice, events: list[Event]) -> None:
    before = dict(ref.positions)
    expected = ref.tick(command.asset, command.bid, command.ask, command.ts_us)
    if expected is None:
        assert len(events) == 1
        assert isinstance(events[0], CommandRejected)
        assert events[0].reason is RejectReason.INVALID_PRICE
        return
    _check_closes(events, expected, before, command)


def _check_create(ref: Reference, command: CreateOrder, events: list[Event]) -> None:
    problems = ref.create_problems(_request(command))
    assert len(events) == 1
    result = events[0]
    if isinstance(result, CommandRejected):
        event(f"create: {result.reason.value}")
        assert result.reason in problems, (result, problems)
        assert (result.request_id, result.user_id) == (command.request_id, command.user_id)
        return
    assert isinstance(result, PositionOpened), result
    assert not problems, (result, problems)
    assert result.request_id == command.request_id
    assert all(result.position.seq > seq for seq in ref.positions)
    expected = ref.open(_request(command), result.position.seq)
    _same_position(result.position, expected)
    assert result.position.slippage_bps == command.slippage_bps
    assert result.position.opened_us == command.ts_us
    assert result.balance == ref.balances[command.user_id]
    event("create: opened")


def _check_close(ref: Reference, command: CloseOrder, events: list[Event]) -> None:
    before = dict(ref.positions)
    expected = ref.close_by_user(command.user_id, command.order_id, command.ts_us)
    if isinstance(expected, RejectReason):
        assert len(events) == 1
        assert isinstance(events[0], CommandRejected)
        assert events[0].reason is expected
        assert (events[0].request_id, events[0].user_id) == (command.request_id, command.user_id)
        event(f"close: {expected.value}")
        return
    _check_closes(events, [expected], before, command)


_CHECKS: dict[type, Callable[[Reference, Any, list[Event]], None]] = {
    RegisterUser: _check_register,
    UpdatePrice: _check_tick,
    CreateOrder: _check_create,
    CloseOrder: _check_close,
}


def _check_money(engine: Engine, ref: Reference) -> None:
    accounts = engine.accounts
    balances = sum(a.balance for a in accounts.values())
    locked = sum(a.locked for a in accounts.values())
    assert balances + locked + engine.house_cents == engine.deposits_cents
    assert engine.ledger_total() == engine.deposits_cents
    assert (engine.deposits_cents, engine.house_cents) == (ref.deposits, ref.house)
    assert accounts.keys() == ref.balances.keys()
    for user_id, account in accounts.items():
        assert account.balance >= 0
        assert account.locked >= 0
        assert account.balance == ref.balances[user_id]
        assert account.locked == ref.locked(user_id)
        assert account.locked == sum(p.margin for p in account.positions.values())
        # The per-user index is exact and in open order (get-account lists it as it is).
        own = [p for p in engine.open_by_seq.values() if p.user_id == user_id]
        assert list(account.positions.values()) == sorted(own)
    assert engine.open_by_seq.keys() == ref.positions.keys()


def run_checked(scenario: Scenario, *, restore_at_split: bool = False) -> None:
    engine = Engine(CONFIG)
    ref = Reference(
        INSTRUMENTS,
        CONFIG.starting_balance_cents,
        MAX_AGE_US,
        order_id_window_us=WINDOW_US,
        order_id_lead_us=LEAD_US,
    )
    for index, command in enumerate(scenario.commands):
        if restore_at_split and index == scenario.split:
            engine = restore_snapshot(json_round_trip(take_snapshot(engine)), CONFIG)
        if isinstance(command, CreateOrder):
            ref.note_create(command.ts_us)
            if command.request_id in ref.ever_opened:
                restored = restore_at_split and index >= scenario.split
                event("create: a used id" + (" after restore" if restored else ""))
        events = engine.apply(command)
        _CHECKS[type(command)](ref, command, events)
        _check_money(engine, ref)


# -- plain runs, snapshots and change replay ----------------------------------------------


def run(engine: Engine, commands: Sequence[Command]) -> list[list[Event]]:
    return [engine.apply(command) for command in commands]


def json_round_trip(snapshot: dict[str, Any]) -> dict[str, Any]:
    loaded = orjson.loads(orjson.dumps(snapshot))
    assert isinstance(loaded, dict)
    return loaded


class ChangeModel:
    """What a persistence layer holds after applying change sets in order."""

    def __init__(self) -> None:
        self.balances: dict[str, int] = {}
        self.positions: dict[int, Position] = {}

    def apply(self, changes: ChangeSet) -> None:
        for trade in changes.closed:
            self.positions.pop(trade.position.seq, None)
        for position in changes.opened:
            assert position.seq not in self.positions
            self.positions[position.seq] = position
        self.balances.update(changes.balances)

    def matches(self, engine: Engine) -> None:
        assert self.balances == {u: a.balance for u, a in engine.accounts.items()}
        assert self.positions == engine.open_by_seq


def _position(row: list[Any]) -> Position:
    """A position from its snapshot row (its fields in order, the side as a string)."""
    return Position._make([*row[:4], Side(row[4]), *row[5:]])


def run_draining(
    engine: Engine, commands: Sequence[Command], drains: frozenset[int], model: ChangeModel
) -> None:
    for index, command in enumerate(commands):
        engine.apply(command)
        if index in drains:
            model.apply(engine.drain_changes())
            model.matches(engine)
    model.apply(engine.drain_changes())
    model.matches(engine)
    assert not engine.drain_changes()


# -- properties ---------------------------------------------------------------------------


@SETTINGS
@given(scenarios())
def test_engine_agrees_with_brute_force_reference(scenario: Scenario) -> None:
    """Properties 1-3: closes per tick, ledger, exact PnL, no negative balance."""
    with compaction(scenario):
        run_checked(scenario)


@SETTINGS
@given(scenarios())
def test_reference_agrees_across_snapshot_restore(scenario: Scenario) -> None:
    """Property 1 across a restore: ids used before the snapshot stay refused after it."""
    with compaction(scenario):
        run_checked(scenario, restore_at_split=True)


@SETTINGS
@given(scenarios())
def test_snapshot_restore_continue_equals_straight_run(scenario: Scenario) -> None:
    """Property 4: a JSON snapshot taken anywhere resumes into the very same future."""
    head, tail = scenario.commands[: scenario.split], scenario.commands[scenario.split :]
    with compaction(scenario):
        straight = Engine(CONFIG)
        straight_events = run(straight, scenario.commands)

        first = Engine(CONFIG)
        assert run(first, head) == straight_events[: len(head)]
        snapshot = json_round_trip(take_snapshot(first))
        resumed = restore_snapshot(snapshot, CONFIG)
        assert json_round_trip(take_snapshot(resumed)) == snapshot
        for account in resumed.accounts.values():  # restored in open order, as get-account lists
            assert list(account.positions.values()) == sorted(account.positions.values())
        assert run(resumed, tail) == straight_events[len(head) :]

    final = take_snapshot(straight)
    assert take_snapshot(resumed) == final
    assert orjson.dumps(take_snapshot(resumed)) == orjson.dumps(final)
    assert resumed.ledger_total() == resumed.deposits_cents


@SETTINGS
@given(scenarios())
def test_drained_changes_replay_to_engine_state(scenario: Scenario) -> None:
    """Property 4: change sets applied in order rebuild balances and open positions,
    from an empty model and from a model loaded from a mid-run snapshot."""
    head, tail = scenario.commands[: scenario.split], scenario.commands[scenario.split :]
    with compaction(scenario):
        run_draining(Engine(CONFIG), scenario.commands, scenario.drains, ChangeModel())

        first = Engine(CONFIG)
        run(first, head)
        snapshot = json_round_trip(take_snapshot(first))
        resumed = restore_snapshot(snapshot, CONFIG)
        model = ChangeModel()
        model.balances = {user_id: balance for user_id, balance, _seq in snapshot["accounts"]}
        model.positions = {row[0]: _position(row) for row in snapshot["positions"]}
        later = frozenset(i - len(head) for i in scenario.drains if i >= len(head))
        run_draining(resumed, tail, later, model)
