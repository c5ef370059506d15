"""Property tests of reset and deposit mixed into random trading: market and pending
orders, closes, ticks that fire stops and margin calls, deposits (some beyond the day's
allowance or the largest balance, some replayed), resets (some to other balances, some
replayed), clock jumps across UTC midnight and beyond the price age.

After every step: the ledger holds (balances + locked + reserved + house == deposits, and
deposits moved by exactly the ledger entries), no balance is negative, no user deposited
more than the cap on any UTC day, a reset left its account empty at the balance asked
for, a refused command changed nothing. The change sets carry every ledger entry once.
And snapshot -> JSON -> restore at a random step, then continuing, gives the same events.
"""

from __future__ import annotations

from collections import defaultdict
from random import Random

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradepro.domain.commands import (
    CloseOrder,
    Command,
    CreateOrder,
    Deposit,
    RegisterUser,
    ResetAccount,
    UpdatePrice,
)
from tradepro.domain.events import (
    AccountReset,
    CommandRejected,
    Deposited,
    Event,
    LedgerEntry,
)
from tradepro.domain.instruments import Instrument, instrument_table
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import OrderType, Side
from tradepro.engine import Engine, EngineConfig
from tradepro.engine.account_ops import DAY_US
from tradepro.engine.snapshot import restore_snapshot, take_snapshot

INSTRUMENTS = instrument_table(
    [Instrument("TOY_USD", price_decimals=0, qty_decimals=1, max_leverage=50, commission_bps=9)]
)
CAP = 300_000
MAX = 2_000_000
CONFIG = EngineConfig(
    instruments=INSTRUMENTS,
    starting_balance_cents=100_000,
    max_price_age_us=10_000_000,
    max_paper_balance_cents=MAX,
    daily_deposit_cap_cents=CAP,
)
USERS = ("u0", "u1")
START_US = 1_780_012_800_000_000 - 3_600_000_000  # an hour before a UTC midnight
KINDS = ("tick",) * 6 + ("create",) * 3 + ("pend",) * 2 + ("close",) + ("deposit", "reset") * 2
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Builder:
    def __init__(self) -> None:
        self.clock = START_US
        self.counter = 0
        self.mid = 1_000
        self.ids: list[tuple[str, str]] = []
        """(user, id) of every create, deposit and reset sent (for closes and replays)."""

    def fresh_id(self) -> str:
        self.counter += 1
        return new_order_id(self.clock // 1000, self.counter)

    def command(self, kind: str, seed: int) -> Command:
        rng = Random(seed)
        jump = rng.randrange(60)
        if jump == 0:
            self.clock += 11_000_000  # every quote goes stale
        elif jump == 1:
            self.clock += 20 * 60_000_000  # towards (and past) midnight
        else:
            self.clock += rng.randint(1, 300_000)
        return getattr(self, f"_{kind}")(rng)

    def _tick(self, rng: Random) -> Command:
        self.mid = min(max(self.mid + rng.randint(-30, 30), 700), 1_300)
        if rng.randrange(10) == 0:
            self.mid += rng.choice((-1, 1)) * 120
        return UpdatePrice(self.fresh_id(), self.clock, "TOY_USD", self.mid, self.mid + 1)

    def _create(self, rng: Random) -> Command:
        user = rng.choice(USERS)
        order_id = self.fresh_id()
        self.ids.append((user, order_id))
        side = rng.choice(tuple(Side))
        return CreateOrder(
            order_id, self.clock, user, "TOY_USD", side, rng.randint(1, 40), rng.randint(1, 50)
        )

    def _pend(self, rng: Random) -> Command:
        user = rng.choice(USERS)
        order_id = self.fresh_id()
        self.ids.append((user, order_id))
        side = rng.choice(tuple(Side))
        order_type = rng.choice((OrderType.LIMIT, OrderType.STOP))
        # resting: a buy limit below the market, a buy stop above (a sell: the mirror)
        below = (side is Side.BUY) == (order_type is OrderType.LIMIT)
        price = max(1, self.mid + (-1 if below else 1) * rng.randint(20, 200))
        return CreateOrder(
            order_id, self.clock, user, "TOY_USD", side, rng.randint(1, 40), rng.randint(1, 50),
            order_type=order_type, trigger_price=price,
        )  # fmt: skip

    def _close(self, rng: Random) -> Command:
        user, order_id = rng.choice(self.ids) if self.ids else (rng.choice(USERS), "x")
        return CloseOrder(self.fresh_id(), self.clock, rng.choice((user, *USERS)), order_id)

    def _replay_or_fresh(self, rng: Random, user: str) -> str:
        if self.ids and rng.randrange(6) == 0:
            return rng.choice(self.ids)[1]  # an id used before (maybe by another user)
        request_id = self.fresh_id()
        self.ids.append((user, request_id))
        return request_id

    def _deposit(self, rng: Random) -> Command:
        user = rng.choice(USERS)
        amount = rng.choice((rng.randint(1, CAP // 2), CAP, CAP + 1, rng.randint(-5, 0)))
        return Deposit(self._replay_or_fresh(rng, user), self.clock, user, amount)

    def _reset(self, rng: Random) -> Command:
        user = rng.choice(USERS)
        balance = rng.choice((None, 0, rng.randint(1, MAX), MAX, MAX + 1))
        return ResetAccount(self._replay_or_fresh(rng, user), self.clock, user, balance)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Command], int]:
    steps = draw(
        st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 2**32)), min_size=1, max_size=90)
    )
    builder = _Builder()
    commands: list[Command] = [RegisterUser(builder.fresh_id(), START_US, u) for u in USERS]
    commands.append(builder.command("tick", 0))
    commands += [builder.command(kind, seed) for kind, seed in steps]
    return commands, draw(st.integers(0, len(commands)))


def _check_step(
    engine: Engine,
    command: Command,
    events: list[Event],
    before: tuple[int, int, int],
    deposited: dict[tuple[str, int], int],
) -> None:
    assert engine.ledger_total() == engine.deposits_cents
    for account in engine.accounts.values():
        assert account.balance >= 0 and account.locked >= 0 and account.reserved >= 0
    entries = [e.entry for e in events if isinstance(e, AccountReset | Deposited)]
    deposits_before, user_balance_before, held_before = before
    if not isinstance(command, ResetAccount | Deposit):
        assert entries == []
        return
    account = engine.accounts[command.user_id]
    held = account.balance + account.locked + account.reserved
    last = events[-1]
    if isinstance(last, CommandRejected):
        assert entries == []
        assert engine.deposits_cents == deposits_before
        assert account.balance == user_balance_before
        return
    [entry] = entries
    assert entry.id == command.request_id and entry.user_id == command.user_id
    assert entry.created_us == command.ts_us and entry.balance_after == account.balance
    if isinstance(command, Deposit):
        assert entry.amount == command.amount > 0
        assert engine.deposits_cents == deposits_before + command.amount
        assert held == held_before + command.amount <= MAX
        key = (command.user_id, command.ts_us // DAY_US)
        deposited[key] += command.amount
        assert deposited[key] <= CAP
    else:
        target = CONFIG.starting_balance_cents if command.balance is None else command.balance
        assert account.balance == target <= MAX
        assert (account.locked, account.reserved) == (0, 0)
        assert account.positions == {} and account.orders == {}
        assert engine.deposits_cents == deposits_before + entry.amount


def _run(commands: list[Command], split: int | None = None) -> list[list[Event]]:
    engine = Engine(CONFIG)
    outputs: list[list[Event]] = []
    deposited: dict[tuple[str, int], int] = defaultdict(int)
    drained: list[LedgerEntry] = []
    announced: list[LedgerEntry] = []
    for index, command in enumerate(commands):
        if index == split:
            drained += engine.drain_changes().ledger
            data = orjson.loads(orjson.dumps(take_snapshot(engine)))
            engine = restore_snapshot(data, CONFIG)
        account = engine.accounts.get(getattr(command, "user_id", ""))
        before = (
            engine.deposits_cents,
            account.balance if account else 0,
            account.balance + account.locked + account.reserved if account else 0,
        )
        events = engine.apply(command)
        _check_step(engine, command, events, before, deposited)
        announced += [e.entry for e in events if isinstance(e, AccountReset | Deposited)]
        outputs.append(events)
        if index % 7 == 0:
            drained += engine.drain_changes().ledger
    drained += engine.drain_changes().ledger
    assert drained == announced  # the store is handed every entry, once, in order
    return outputs


@SETTINGS
@given(scenarios())
def test_reset_and_deposit_keep_the_ledger_and_the_limits(
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
