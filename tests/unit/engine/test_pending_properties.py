"""Property tests of pending orders on random command sequences.

Scenarios mix registrations, ticks (often aimed at a resting order's price, one tick
either side), market orders, limit and stop orders (sometimes on the wrong side of the
market, with levels on the wrong side of their price, with an expiry in the past, now or
soon, with reused ids), cancels and amends (own orders, other users', unknown ids), closes,
reads (which expire orders too) and clock jumps. Commands are built up front, independently
of the engine, so the very same commands can be replayed.

1. Every step agrees with ``PendingReference`` (tests/support/engine_reference.py), a
   brute-force model that scans every pending order and every position on each tick:
   the same closes, fills, fill prices, cancellations for balance and expiries, in the
   same order, and the same rejections.
2. The ledger holds after every step: balances + locked + reserved + house == deposits.
3. No balance, locked margin or reservation is ever negative.
4. snapshot -> JSON -> restore -> continue equals the straight run, and drained change
   sets replay to the engine's pending orders and balances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from random import Random
from typing import Any

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.engine_reference import (
    OrderRequest,
    PendingReference,
    PendingRequest,
    Reference,
    RefPending,
)
from tradepro.domain.commands import (
    AmendOrder,
    CancelOrder,
    CloseOrder,
    Command,
    CreateOrder,
    RegisterUser,
    ReportAccount,
    UpdatePrice,
)
from tradepro.domain.events import (
    AccountReported,
    CommandRejected,
    Event,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPlaced,
    PositionClosed,
    PositionOpened,
)
from tradepro.domain.instruments import Instrument, instrument_table
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import EndReason, OrderStatus, OrderType, RejectReason, Side
from tradepro.domain.pending import PendingOrder
from tradepro.engine import Engine, EngineConfig
from tradepro.engine.changes import ChangeSet
from tradepro.engine.snapshot import restore_snapshot, take_snapshot

INSTRUMENTS = instrument_table(
    [
        Instrument("BTC_USDC", price_decimals=1, qty_decimals=5),
        Instrument("TOY_USD", price_decimals=0, qty_decimals=1, max_leverage=50),
    ]
)
ASSETS = tuple(INSTRUMENTS)
BASE_PRICE = {"BTC_USDC": 1_000_000, "TOY_USD": 1_000}
QTY = {"BTC_USDC": (1, 10, 100, 1_000, 5_000), "TOY_USD": (1, 5, 10, 40)}
MAX_AGE_US = 10_000_000
MAX_PENDING = 4
CONFIG = EngineConfig(
    instruments=INSTRUMENTS,
    starting_balance_cents=100_000,
    max_price_age_us=MAX_AGE_US,
    max_pending_per_account=MAX_PENDING,
)
START_US = 1_780_000_000_000_000
USERS = ("u0", "u1", "u2")
STEP_KINDS = ("tick",) * 6 + ("place",) * 5 + ("market", "market", "cancel", "amend")
STEP_KINDS += ("amend", "close", "report", "register")
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
steps = st.tuples(st.sampled_from(STEP_KINDS), st.integers(0, 2**32 - 1))


@dataclass(frozen=True)
class Scenario:
    commands: list[Command]
    split: int
    drains: frozenset[int]


class _Builder:
    """Turns (kind, seed) steps into commands; tracks only what the steps determine."""

    def __init__(self, band: int) -> None:
        self.band = band  # per mille of the base price
        self.clock = START_US
        self.quotes = {asset: (BASE_PRICE[asset], BASE_PRICE[asset]) for asset in ASSETS}
        self.ids: dict[str, list[str]] = {user: [] for user in USERS}
        self.targets: dict[str, list[int]] = {asset: [] for asset in ASSETS}
        self.counter = 0
        self.placed: dict[str, tuple[str, Side, OrderType]] = {}

    def new_id(self) -> str:
        self.counter += 1
        return new_order_id(self.clock // 1000, self.counter)

    def width(self, asset: str) -> int:
        return max(2, BASE_PRICE[asset] * self.band // 1000)

    def build(self, kind: str, seed: int) -> Command:
        rng = Random(seed)
        self.clock += 3 * MAX_AGE_US // 2 if rng.randrange(40) == 0 else rng.randint(0, 300_000)
        user = USERS[rng.randrange(len(USERS))]
        if kind == "register":
            return RegisterUser(self.new_id(), self.clock, user)
        if kind == "report":
            return ReportAccount(self.new_id(), self.clock, user, orders=False)
        if kind == "tick":
            return self._tick(rng)
        if kind in ("cancel", "amend", "close"):
            return self._on_existing(kind, rng, user)
        return self._create(kind, rng, user)

    def _tick(self, rng: Random) -> UpdatePrice:
        asset = ASSETS[rng.randrange(len(ASSETS))]
        width = self.width(asset)
        bid = max(1, BASE_PRICE[asset] + rng.randint(-width, width))
        spread = rng.randint(0, 3)
        targets = self.targets[asset]
        if targets and rng.randrange(2) == 0:  # aim at a resting price, one tick either side
            level = targets[-1 - rng.randrange(min(len(targets), 6))] + rng.randint(-1, 1)
            if rng.randrange(3) == 0:  # through it, by a gap
                level += rng.choice((-1, 1)) * rng.randint(0, width)
            bid = max(1, level - (spread if rng.randrange(2) else 0))
        ask = bid + spread
        self.quotes[asset] = (bid, ask)
        return UpdatePrice(self.new_id(), self.clock, asset, bid, ask)

    def _create(self, kind: str, rng: Random, user: str) -> CreateOrder:
        asset = ASSETS[rng.randrange(len(ASSETS))]
        side = Side.BUY if rng.randrange(2) else Side.SELL
        qty = rng.choice(QTY[asset])
        leverage = rng.choice((1, 2, 5, 10, 50, 100))
        reuse = rng.randrange(8) == 0 and self.ids[user]
        order_id = rng.choice(self.ids[user]) if reuse else self.new_id()
        self.ids[user].append(order_id)
        bid, ask = self.quotes[asset]
        width = self.width(asset)
        if kind == "market":
            return CreateOrder(order_id, self.clock, user, asset, side, qty, leverage)
        order_type = OrderType.LIMIT if rng.randrange(2) else OrderType.STOP
        market = ask if side is Side.BUY else bid
        waits_below = (side is Side.BUY) == (order_type is OrderType.LIMIT)
        offset = rng.randint(1, width) if rng.randrange(6) else rng.randint(-1, 0)
        price = max(1, market - offset if waits_below else market + offset)
        self.targets[asset].append(price)
        self.placed[order_id] = (asset, side, order_type)
        sign = 1 if side is Side.BUY else -1
        take_profit = price + sign * rng.randint(-2, width) if rng.randrange(3) == 0 else None
        stop_loss = price - sign * rng.randint(-2, width) if rng.randrange(3) == 0 else None
        expires = None
        if rng.randrange(3) == 0:
            expires = self.clock + rng.choice((-1, 0, 1, rng.randint(1, 2_000_000)))
        return CreateOrder(
            order_id, self.clock, user, asset, side, qty, leverage, take_profit, stop_loss,
            order_type=order_type, trigger_price=price, expires_us=expires,
        )  # fmt: skip

    def _on_existing(self, kind: str, rng: Random, user: str) -> Command:
        mode = rng.randrange(6)
        own = self.ids[user]
        if kind != "close" and mode < 3:
            own = [i for i in own if i in self.placed]
        pool = own if mode < 4 else [i for ids in self.ids.values() for i in ids]
        order_id = pool[-1 - rng.randrange(min(len(pool), 5))] if pool and mode < 5 else None
        order_id = order_id or self.new_id()
        request_id = self.new_id()
        if kind == "cancel":
            return CancelOrder(request_id, self.clock, user, order_id)
        if kind == "close":
            return CloseOrder(request_id, self.clock, user, order_id)
        changes: dict[str, Any] = {}
        default = (ASSETS[0], Side.BUY, OrderType.LIMIT)
        asset, side, order_type = self.placed.get(order_id, default)
        width = self.width(asset)
        bid, ask = self.quotes[asset]
        market = ask if side is Side.BUY else bid
        waits_below = (side is Side.BUY) == (order_type is OrderType.LIMIT)
        offset = rng.randint(1, width) if rng.randrange(6) else rng.randint(-1, 0)
        price = max(1, market - offset if waits_below else market + offset)
        sign = 1 if side is Side.BUY else -1
        for name in rng.sample(("price", "qty", "take_profit", "stop_loss", "expires_us"), 2):
            if name == "price":
                changes[name] = price
                self.targets[asset].append(price)
            elif name == "qty":
                changes[name] = rng.choice((0, *QTY[asset]))
            elif name == "expires_us":
                changes[name] = rng.choice((None, self.clock - 1, self.clock + 500_000))
            elif name == "take_profit":
                changes[name] = rng.choice((None, price + sign * rng.randint(-1, width)))
            else:
                changes[name] = rng.choice((None, price - sign * rng.randint(-1, width)))
        return AmendOrder(request_id, self.clock, user, order_id, frozenset(changes), **changes)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    builder = _Builder(draw(st.sampled_from([2, 20, 100])))
    warm: list[Command] = [RegisterUser(builder.new_id(), builder.clock, u) for u in USERS[:2]]
    warm += [
        UpdatePrice(builder.new_id(), builder.clock, a, BASE_PRICE[a], BASE_PRICE[a] + 1)
        for a in ASSETS
    ]
    for asset in ASSETS:
        builder.quotes[asset] = (BASE_PRICE[asset], BASE_PRICE[asset] + 1)
    raw = draw(st.lists(steps, min_size=10, max_size=80))
    commands = warm + [builder.build(kind, seed) for kind, seed in raw]
    split = draw(st.integers(0, len(commands)))
    drains = frozenset(draw(st.lists(st.integers(0, len(commands) - 1), max_size=5)))
    return Scenario(commands, split, drains)


# -- checking one step against the model --------------------------------------------------


def _same_order(order: PendingOrder, expected: RefPending) -> None:
    fields = ("order_id", "user_id", "asset", "side", "qty", "leverage", "price",
              "take_profit", "stop_loss", "reserved", "expires_us")  # fmt: skip
    assert {f: getattr(order, f) for f in fields} == {f: getattr(expected, f) for f in fields}
    assert order.order_type.value == expected.order_type


def _request(command: CreateOrder) -> PendingRequest:
    return PendingRequest(
        command.request_id, command.ts_us, command.user_id, command.asset, command.side,
        command.order_type.value, command.qty, command.leverage, command.trigger_price,
        command.take_profit, command.stop_loss, command.expires_us,
    )  # fmt: skip


class Checker:
    def __init__(self) -> None:
        self.ref = Reference(INSTRUMENTS, CONFIG.starting_balance_cents, MAX_AGE_US)
        self.pending = PendingReference(self.ref, max_per_account=MAX_PENDING)

    def step(self, command: Command, events: list[Event]) -> None:
        expired = self.pending.expire(command.ts_us)
        head, rest = events[: len(expired)], events[len(expired) :]
        for got, expected in zip(head, expired, strict=True):
            assert isinstance(got, OrderExpired), got
            assert got.request_id == expected.order_id
            assert got.ended.status is OrderStatus.EXPIRED
            assert got.ended.ended_us == command.ts_us
            _same_order(got.ended.order, expected)
            event("expired")
        if isinstance(command, CreateOrder):
            self.ref.note_create(command.ts_us)
        getattr(self, f"_{type(command).__name__}")(command, rest)

    def _RegisterUser(self, command: RegisterUser, events: list[Event]) -> None:  # noqa: N802
        self.ref.register(command.user_id)
        assert len(events) == 1

    def _ReportAccount(self, command: ReportAccount, events: list[Event]) -> None:  # noqa: N802
        [report] = events
        if command.user_id not in self.ref.balances:
            assert isinstance(report, CommandRejected)
            return
        assert isinstance(report, AccountReported)
        assert report.reserved == self.pending.reserved(command.user_id)

    def _UpdatePrice(self, command: UpdatePrice, events: list[Event]) -> None:  # noqa: N802
        closes = self.ref.tick(command.asset, command.bid, command.ask, command.ts_us)
        assert closes is not None
        for got, settlement in zip(events, closes, strict=False):
            assert isinstance(got, PositionClosed), got
            assert (got.trade.position.order_id, got.trade.close_price, got.trade.reason) == (
                settlement.order_id, settlement.close_price, settlement.reason,
            )  # fmt: skip
            assert got.balance == settlement.balance
        fills = self.pending.fill(command.asset, command.bid, command.ask)
        assert len(events) == len(closes) + len(fills), (events, closes, fills)
        for got, outcome in zip(events[len(closes) :], fills, strict=True):
            _same_order(got.ended.order, outcome.order)  # type: ignore[union-attr]
            assert got.balance == outcome.balance  # type: ignore[union-attr]
            if outcome.filled:
                assert isinstance(got, OrderFilled), got
                assert (got.position.open_price, got.position.margin) == (
                    outcome.price, outcome.margin,
                )  # fmt: skip
                self.pending.opened(outcome, got.position.seq)
                event("filled")
            else:
                assert isinstance(got, OrderCanceled), got
                assert got.ended.reason is EndReason.INSUFFICIENT_BALANCE
                assert got.ended.status is OrderStatus.REJECTED
                event("fill refused for balance")

    def _CreateOrder(self, command: CreateOrder, events: list[Event]) -> None:  # noqa: N802
        [got] = events
        if command.order_type is OrderType.MARKET:
            request = OrderRequest(
                command.request_id, command.ts_us, command.user_id, command.asset,
                command.side, command.qty, command.leverage, None, None, None, None,
            )  # fmt: skip
            problems = self.ref.create_problems(request)
            if command.request_id in self.pending.ever_placed:
                problems.add(RejectReason.DUPLICATE_REQUEST)
            if isinstance(got, CommandRejected):
                assert got.reason in problems, (got, problems)
                return
            assert isinstance(got, PositionOpened) and not problems, (got, problems)
            self.ref.open(request, got.position.seq)
            return
        request = _request(command)
        problems = self.pending.place_problems(request)
        if isinstance(got, CommandRejected):
            assert got.reason in problems, (got, problems)
            event(f"place: {got.reason.value}")
            return
        assert isinstance(got, OrderPlaced) and not problems, (got, problems)
        _same_order(got.order, self.pending.place(request))
        event("placed")

    def _CancelOrder(self, command: CancelOrder, events: list[Event]) -> None:  # noqa: N802
        [got] = events
        order = self.pending.own(command.user_id, command.order_id)
        if order is None:
            assert isinstance(got, CommandRejected)
            assert got.reason is RejectReason.ORDER_NOT_FOUND
            return
        assert isinstance(got, OrderCanceled) and got.ended.reason is EndReason.USER
        self.pending.release(order)
        assert got.balance == self.ref.balances[command.user_id]

    def _AmendOrder(self, command: AmendOrder, events: list[Event]) -> None:  # noqa: N802
        [got] = events
        order = self.pending.own(command.user_id, command.order_id)
        if order is None:
            assert isinstance(got, CommandRejected)
            assert got.reason is RejectReason.ORDER_NOT_FOUND
            return
        given = command.given
        wanted = PendingRequest(
            order.order_id, command.ts_us, order.user_id, order.asset, order.side,
            order.order_type,
            command.qty if "qty" in given and command.qty is not None else order.qty,
            order.leverage,
            command.price if "price" in given and command.price is not None else order.price,
            command.take_profit if "take_profit" in given else order.take_profit,
            command.stop_loss if "stop_loss" in given else order.stop_loss,
            command.expires_us if "expires_us" in given else order.expires_us,
        )  # fmt: skip
        problems = self.pending.amend_problems(order, wanted)
        if isinstance(got, CommandRejected):
            assert got.reason in problems, (got, problems)
            event(f"amend: {got.reason.value}")
            return
        assert isinstance(got, OrderAmended) and not problems, (got, problems)
        _same_order(got.order, self.pending.amend(order, wanted))
        event("amended")

    def _CloseOrder(self, command: CloseOrder, events: list[Event]) -> None:  # noqa: N802
        expected = self.ref.close_by_user(command.user_id, command.order_id, command.ts_us)
        [got] = events
        if isinstance(expected, RejectReason):
            assert isinstance(got, CommandRejected) and got.reason is expected
            return
        assert isinstance(got, PositionClosed)
        assert got.trade.close_price == expected.close_price

    def money(self, engine: Engine) -> None:
        assert engine.ledger_total() == engine.deposits_cents
        assert (engine.deposits_cents, engine.house_cents) == (self.ref.deposits, self.ref.house)
        for user_id, account in engine.accounts.items():
            assert account.balance >= 0 and account.locked >= 0 and account.reserved >= 0
            assert account.balance == self.ref.balances[user_id]
            assert account.locked == self.ref.locked(user_id)
            assert account.reserved == self.pending.reserved(user_id)
            assert account.orders.keys() == {
                o.order_id for o in self.pending.orders.values() if o.user_id == user_id
            }
        assert {p.order_id for p in engine.open_by_seq.values()} == {
            p.order_id for p in self.ref.positions.values()
        }
        assert len(engine.pending_by_seq) == len(self.pending.orders)
        for asset, books in engine.pending_books.items():
            assert books.resting == sum(1 for o in self.pending.orders.values() if o.asset == asset)


def run_checked(scenario: Scenario, *, restore_at_split: bool = False) -> None:
    engine = Engine(CONFIG)
    checker = Checker()
    for index, command in enumerate(scenario.commands):
        if restore_at_split and index == scenario.split:
            engine = restore_snapshot(json_round_trip(take_snapshot(engine)), CONFIG)
        checker.step(command, engine.apply(command))
        checker.money(engine)


def json_round_trip(snapshot: dict[str, Any]) -> dict[str, Any]:
    loaded = orjson.loads(orjson.dumps(snapshot))
    assert isinstance(loaded, dict)
    return loaded


def run(engine: Engine, commands: Sequence[Command]) -> list[list[Event]]:
    return [engine.apply(command) for command in commands]


class ChangeModel:
    """What a store holds after applying change sets in order: pending orders and
    balances (positions are covered by test_properties.py)."""

    def __init__(self) -> None:
        self.balances: dict[str, int] = {}
        self.orders: dict[str, PendingOrder] = {}
        self.history: list[str] = []

    def apply(self, changes: ChangeSet) -> None:
        for ended in changes.ended:
            self.orders.pop(ended.order.order_id, None)
            self.history.append(ended.order.order_id)
        for order in changes.placed:
            self.orders[order.order_id] = order
        self.balances.update(changes.balances)

    def matches(self, engine: Engine) -> None:
        assert self.balances == {u: a.balance for u, a in engine.accounts.items()}
        assert self.orders == {o.order_id: o for o in engine.pending_by_seq.values()}


# -- properties ---------------------------------------------------------------------------


@SETTINGS
@given(scenarios())
def test_pending_orders_agree_with_brute_force_reference(scenario: Scenario) -> None:
    """Properties 1-3."""
    run_checked(scenario)


@SETTINGS
@given(scenarios())
def test_pending_reference_agrees_across_snapshot_restore(scenario: Scenario) -> None:
    run_checked(scenario, restore_at_split=True)


@SETTINGS
@given(scenarios())
def test_pending_snapshot_restore_continue_equals_straight_run(scenario: Scenario) -> None:
    """Property 4."""
    head, tail = scenario.commands[: scenario.split], scenario.commands[scenario.split :]
    straight = Engine(CONFIG)
    straight_events = run(straight, scenario.commands)
    first = Engine(CONFIG)
    assert run(first, head) == straight_events[: len(head)]
    snapshot = json_round_trip(take_snapshot(first))
    resumed = restore_snapshot(snapshot, CONFIG)
    assert json_round_trip(take_snapshot(resumed)) == snapshot
    assert run(resumed, tail) == straight_events[len(head) :]
    assert take_snapshot(resumed) == take_snapshot(straight)


@SETTINGS
@given(scenarios())
def test_pending_changes_replay_to_engine_state(scenario: Scenario) -> None:
    engine = Engine(CONFIG)
    model = ChangeModel()
    for index, command in enumerate(scenario.commands):
        engine.apply(command)
        if index in scenario.drains:
            model.apply(engine.drain_changes())
            model.matches(engine)
    model.apply(engine.drain_changes())
    model.matches(engine)
