"""Property tests of managing positions on random command sequences: the engine (indexed
books, trailing groups that share extremes) against ``tests.support.manage_reference``
(brute force: one extreme per trailing position, every level recomputed on every tick).

Steps: ticks in a narrow band (so that trailing stops, stops, take-profits and margin calls
fire often, with gaps), market orders with random take-profit / stop-loss / trailing stop,
modify (set, clear, refused levels), partial closes (odd quantities, replays of an earlier
request, qty at or above the open qty), closes, close-all (one asset or all), other users'
order ids, clock jumps that make quotes stale. One instrument charges commission.

1. Every event agrees with the model: the same closes in the same order with the same
   price, reason, qty, PnL, commission, trade id and balance; the same rejections.
2. After every step: the ledger holds, no balance is negative, locked margin is the sum of
   the open margins, and each trailing position's reported level is the model's.
3. snapshot -> JSON -> restore at a random step, then continuing, gives the same events.
"""

from __future__ import annotations

from random import Random
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.manage_reference import ManageModel, ModelClose
from tradepro.domain.commands import (
    CloseAll,
    CloseOrder,
    Command,
    CreateOrder,
    ModifyOrder,
    RegisterUser,
    UpdatePrice,
)
from tradepro.domain.events import (
    AllClosed,
    CommandRejected,
    Event,
    PositionClosed,
    PositionModified,
    PositionOpened,
)
from tradepro.domain.instruments import Instrument, instrument_table
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import RejectReason, Side
from tradepro.domain.positions import Position
from tradepro.engine import Engine, EngineConfig
from tradepro.engine.manage import trailing_level
from tradepro.engine.snapshot import restore_snapshot, take_snapshot

INSTRUMENTS = instrument_table(
    [
        Instrument("BTC_USDC", price_decimals=1, qty_decimals=5, commission_bps=7),
        Instrument("TOY_USD", price_decimals=0, qty_decimals=1, max_leverage=50),
    ]
)
ASSETS = tuple(INSTRUMENTS)
BASE = {"BTC_USDC": 1_000_000, "TOY_USD": 1_000}
BAND = {"BTC_USDC": 5_000, "TOY_USD": 40}
QTY = {"BTC_USDC": (1, 5_000), "TOY_USD": (1, 60)}
MAX_AGE_US = 10_000_000
CONFIG = EngineConfig(
    instruments=INSTRUMENTS, starting_balance_cents=100_000, max_price_age_us=MAX_AGE_US
)
USERS = ("u0", "u1")
START_US = 1_780_000_000_000_000
KINDS = ("tick",) * 8 + ("create",) * 4 + ("modify",) * 3 + ("part",) * 3 + ("close", "all")
SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Builder:
    """Turns (kind, seed) steps into engine commands, tracking only what the commands
    themselves determine (ids sent, quotes sent), never the engine's state."""

    def __init__(self) -> None:
        self.clock = START_US
        self.counter = 0
        self.orders: list[tuple[str, str, str]] = []
        """(user, order id, asset) of every create sent."""
        self.parts: list[str] = []
        """Request ids of partial closes sent (for replays)."""
        self.mids: dict[str, int] = {}

    def fresh_id(self) -> str:
        self.counter += 1
        return new_order_id(self.clock // 1000, self.counter)

    def command(self, kind: str, seed: int) -> Command:
        rng = Random(seed)
        self.clock += MAX_AGE_US + 1 if rng.randrange(40) == 0 else rng.randint(1, 400_000)
        return getattr(self, f"_{kind}")(rng)

    def _tick(self, rng: Random) -> Command:
        asset = rng.choice(ASSETS)
        mid = self.mids.get(asset, BASE[asset])
        step = BAND[asset] // 10
        mid = min(
            max(mid + rng.randint(-step, step), BASE[asset] - BAND[asset]),
            BASE[asset] + BAND[asset],
        )
        if rng.randrange(15) == 0:  # a gap
            mid += rng.choice((-1, 1)) * BAND[asset] // 2
        self.mids[asset] = mid
        spread = rng.randint(0, 3)
        return UpdatePrice(self.fresh_id(), self.clock, asset, mid, mid + spread)

    def _levels(self, rng: Random, asset: str, side: Side) -> dict[str, int | None]:
        mid = self.mids.get(asset, BASE[asset])
        span = BAND[asset] // 4
        sign = 1 if side is Side.BUY else -1
        levels: dict[str, int | None] = {}
        for name, direction in (("take_profit", 1), ("stop_loss", -1)):
            if rng.random() < 0.5:
                levels[name] = max(1, mid + sign * direction * rng.randint(-2, span))
            elif rng.random() < 0.3:
                levels[name] = None
        if rng.random() < 0.6:
            levels["trailing_stop"] = rng.randint(1, span) if rng.random() < 0.5 else None
            if rng.randrange(20) == 0:
                levels["trailing_stop"] = rng.randint(-2, 0)
        return levels

    def _create(self, rng: Random) -> Command:
        user, asset, side = rng.choice(USERS), rng.choice(ASSETS), rng.choice(tuple(Side))
        low, high = QTY[asset]
        levels = {k: v for k, v in self._levels(rng, asset, side).items() if v is not None}
        if levels.get("trailing_stop", 1) <= 0:
            levels.pop("trailing_stop")
        order_id = self.fresh_id()
        self.orders.append((user, order_id, asset))
        leverage = rng.randint(1, 50)
        return CreateOrder(
            order_id, self.clock, user, asset, side, rng.randint(low, high), leverage,
            levels.get("take_profit"), levels.get("stop_loss"),
            trailing_stop=levels.get("trailing_stop"),
        )  # fmt: skip

    def _target(self, rng: Random) -> tuple[str, str, str]:
        if not self.orders or rng.randrange(12) == 0:
            return rng.choice(USERS), self.fresh_id(), rng.choice(ASSETS)
        user, order_id, asset = rng.choice(self.orders[-6:])
        if rng.randrange(8) == 0:  # someone else's order
            user = USERS[1 - USERS.index(user)]
        return user, order_id, asset

    def _modify(self, rng: Random) -> Command:
        user, order_id, asset = self._target(rng)
        levels = self._levels(rng, asset, rng.choice(tuple(Side)))
        return ModifyOrder(self.fresh_id(), self.clock, user, order_id, frozenset(levels), **levels)

    def _part(self, rng: Random) -> Command:
        user, order_id, asset = self._target(rng)
        if self.parts and rng.randrange(6) == 0:
            request_id = rng.choice(self.parts)  # a replay
        else:
            request_id = self.fresh_id()
            self.parts.append(request_id)
        qty = rng.randint(1, QTY[asset][1] // 2) if rng.randrange(6) else QTY[asset][1] * 2
        return CloseOrder(request_id, self.clock, user, order_id, qty)

    def _close(self, rng: Random) -> Command:
        user, order_id, _ = self._target(rng)
        return CloseOrder(self.fresh_id(), self.clock, user, order_id)

    def _all(self, rng: Random) -> Command:
        asset = rng.choice((None, *ASSETS))
        return CloseAll(self.fresh_id(), self.clock, rng.choice(USERS), asset)


def scenarios() -> st.SearchStrategy[tuple[list[Command], int]]:
    steps = st.lists(
        st.tuples(st.sampled_from(KINDS), st.integers(0, 2**32 - 1)), min_size=30, max_size=90
    )

    def build(raw: list[tuple[str, int]], split: int) -> tuple[list[Command], int]:
        builder = _Builder()
        commands: list[Command] = [RegisterUser(f"r{i}", START_US, u) for i, u in enumerate(USERS)]
        commands += [
            UpdatePrice(builder.fresh_id(), START_US, asset, BASE[asset], BASE[asset] + 1)
            for asset in ASSETS
        ]
        commands += [builder.command(kind, seed) for kind, seed in raw]
        return commands, split % (len(commands) + 1)

    return st.builds(build, steps, st.integers(0, 10_000))


def _closes(events: list[Event]) -> list[ModelClose]:
    found = []
    for event in events:
        if isinstance(event, PositionClosed):
            trade = event.trade
            found.append(
                ModelClose(
                    trade.position.order_id,
                    trade.id,
                    trade.close_price,
                    trade.reason,
                    trade.position.qty,
                    trade.pnl,
                    trade.commission,
                    event.balance,
                )
            )
    return found


def _expect(model: ManageModel, command: Command) -> Any:
    """What the model says this command does: closes, a rejection reason, or a marker."""
    if isinstance(command, RegisterUser):
        model.register(command.user_id)
        return "registered"
    if isinstance(command, UpdatePrice):
        return model.tick(command.asset, command.bid, command.ask, command.ts_us)
    if isinstance(command, CreateOrder):
        levels = (command.take_profit, command.stop_loss, command.trailing_stop)
        opened = model.create(
            command.request_id, command.ts_us, command.user_id, command.asset, command.side,
            command.qty, command.leverage, levels,
        )  # fmt: skip
        return opened if isinstance(opened, RejectReason) else "opened"
    if isinstance(command, ModifyOrder):
        given = {name: getattr(command, name) for name in command.given}
        modified = model.modify(command.user_id, command.order_id, command.ts_us, given)
        return modified if isinstance(modified, RejectReason) else "modified"
    if isinstance(command, CloseAll):
        return model.close_all(command.user_id, command.asset, command.ts_us)
    assert isinstance(command, CloseOrder)
    if command.qty is None:
        closed = model.close(command.user_id, command.order_id, command.ts_us)
    else:
        closed = model.close_part(
            command.request_id, command.user_id, command.order_id, command.qty, command.ts_us
        )
    return closed if isinstance(closed, RejectReason) else [closed]


def _check_step(engine: Engine, model: ManageModel, command: Command, events: list[Event]) -> None:
    expected = _expect(model, command)
    if isinstance(expected, RejectReason):
        [event] = events
        assert isinstance(event, CommandRejected), (command, event)
        assert event.reason is expected, (command, event)
    elif expected == "opened":
        assert [type(e) for e in events] == [PositionOpened], (command, events)
    elif expected == "modified":
        assert [type(e) for e in events] == [PositionModified], (command, events)
    elif isinstance(expected, list):
        assert _closes(events) == expected, (command, events)
        if isinstance(command, CloseAll):
            assert isinstance(events[-1], AllClosed)
    # invariants after every step
    assert engine.ledger_total() == engine.deposits_cents
    assert engine.house_cents == model.house
    for user_id, account in engine.accounts.items():
        assert account.balance >= 0 and account.balance == model.balances[user_id]
        assert account.locked == model.locked(user_id)
    assert set(engine.open_by_seq.values()) == {
        p for a in engine.accounts.values() for p in a.positions.values()
    }
    for position in engine.open_by_seq.values():
        modelled = model.positions[position.order_id]
        assert (position.qty, position.margin, position.commission) == (
            modelled.qty, modelled.margin, modelled.commission,
        )  # fmt: skip
        assert trailing_level(engine, position) == modelled.trailing_level(), position


def _run(commands: list[Command], split: int | None = None) -> list[list[Event]]:
    engine = Engine(CONFIG)
    model = ManageModel(dict(INSTRUMENTS), CONFIG.starting_balance_cents, MAX_AGE_US)
    outputs = []
    rows: dict[str, Position] = {}
    """Open positions as the store keeps them, from the drained change sets."""
    for index, command in enumerate(commands):
        if index == split:
            data = orjson.loads(orjson.dumps(take_snapshot(engine)))
            engine = restore_snapshot(data, CONFIG)
            rows = {p.order_id: p for p in engine.open_by_seq.values()}
            engine.drain_changes()
        events = engine.apply(command)
        _check_step(engine, model, command, events)
        outputs.append(events)
        if index % 5 == 0 or index == len(commands) - 1:
            # what the store does with a change set: delete closed rows, then upsert
            changes = engine.drain_changes()
            for trade in changes.closed:
                rows.pop(trade.position.order_id, None)
            rows |= {position.order_id: position for position in changes.opened}
            assert rows == {p.order_id: p for p in engine.open_by_seq.values()}
    return outputs


@SETTINGS
@given(scenarios())
def test_managing_positions_agrees_with_the_brute_force_model(
    scenario: tuple[list[Command], int],
) -> None:
    commands, _ = scenario
    _run(commands)


@SETTINGS
@given(scenarios())
def test_snapshot_restore_continue_equals_the_straight_run(
    scenario: tuple[list[Command], int],
) -> None:
    commands, split = scenario
    assert _run(commands, split) == _run(commands)
