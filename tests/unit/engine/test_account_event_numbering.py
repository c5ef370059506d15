"""Account events: every event about an account gets the next number of that account's
sequence; replies do not; the counter survives a snapshot, so a replay numbers alike."""

from __future__ import annotations

from typing import NamedTuple

import orjson

from tradepro.domain.commands import (
    CancelOrder,
    CloseAll,
    CloseOrder,
    CreateOrder,
    Deposit,
    RegisterUser,
    ReportAccount,
    ResetAccount,
    UpdatePrice,
)
from tradepro.domain.events import Event
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import OrderType, Side
from tradepro.engine import Engine
from tradepro.engine.account_events import owner_getter
from tradepro.engine.snapshot import restore_snapshot, take_snapshot

BTC = "BTC_USDC"
IDS = [new_order_id(0, n) for n in range(1, 20)]


def numbered(engine: Engine, command: object) -> list[tuple[str, int | None]]:
    events = engine.apply(command)  # type: ignore[arg-type]
    return [(event.status, seq) for event, seq in zip(events, engine.event_seqs, strict=True)]


def trading_commands() -> list[object]:
    """Two users: opens, a rejection, a close, a pending order placed and cancelled, a
    report, a tick that closes by take-profit, a close-all."""
    return [
        RegisterUser("r1", 1, "alice"),
        RegisterUser("r2", 1, "bob"),
        UpdatePrice("p1", 2, BTC, 1_000_000, 1_000_005),
        CreateOrder(IDS[0], 3, "alice", BTC, Side.BUY, 1_000, 10, take_profit=1_010_000),
        CreateOrder(IDS[1], 4, "bob", BTC, Side.SELL, 2_000, 5),
        CreateOrder(IDS[2], 5, "alice", BTC, Side.BUY, 10**12, 1),  # insufficient balance
        CloseOrder("c1", 6, "bob", IDS[1]),
        CreateOrder(
            IDS[3],
            7,
            "alice",
            BTC,
            Side.BUY,
            1_000,
            10,
            order_type=OrderType.LIMIT,
            trigger_price=990_000,
        ),
        CancelOrder("x1", 8, "alice", IDS[3]),
        ReportAccount("a1", 9, "alice"),
        CreateOrder(IDS[4], 10, "alice", BTC, Side.SELL, 1_000, 10),
        UpdatePrice("p2", 11, BTC, 1_010_000, 1_010_005),  # IDS[0]'s take-profit
        CloseAll("all", 12, "alice"),
    ]


def test_account_events_are_numbered_per_user_and_replies_are_not() -> None:
    engine = Engine()
    seen = [numbered(engine, command) for command in trading_commands()]
    assert seen == [
        [("registered", None)],
        [("registered", None)],
        [],
        [("created", 1)],
        [("created", 1)],  # bob's own sequence
        [("insufficient_balance", None)],
        [("closed", 2)],
        [("placed", 2)],
        [("canceled", 3)],
        [("account", None)],
        [("created", 4)],
        [("closed", 5)],
        [("closed", 6), ("closed_all", None)],  # the summary is a reply, the close an event
    ]
    assert engine.accounts["alice"].event_seq == 6
    assert engine.accounts["bob"].event_seq == 2


LIMIT = OrderType.LIMIT


def test_deposits_and_resets_are_numbered_in_their_owners_sequence() -> None:
    """docs/accounts.md "Account events": ``reset`` and ``deposit`` have a seq too, the
    reset's after the closes and cancels it made; a refused one has none."""
    engine = Engine()
    commands = [
        RegisterUser("r1", 1, "alice"),
        RegisterUser("r2", 1, "bob"),
        UpdatePrice("p1", 2, BTC, 1_000_000, 1_000_005),
        CreateOrder(IDS[0], 3, "alice", BTC, Side.BUY, 1_000, 10),
        CreateOrder(
            IDS[1], 4, "alice", BTC, Side.BUY, 1_000, 10, order_type=LIMIT, trigger_price=990_000
        ),
        Deposit(IDS[2], 5, "alice", 10_000),
        Deposit(IDS[3], 6, "bob", 10_000),
        Deposit(IDS[2], 7, "alice", 10_000),  # the same request again: refused
        ResetAccount(IDS[4], 8, "alice", None),
        ResetAccount(IDS[5], 9, "bob", 10**12),  # above the largest balance: refused
    ]
    assert [numbered(engine, command) for command in commands] == [
        [("registered", None)],
        [("registered", None)],
        [],
        [("created", 1)],
        [("placed", 2)],
        [("deposit", 3)],
        [("deposit", 1)],  # bob's own sequence
        [("duplicate_request", None)],
        [("closed", 4), ("canceled", 5), ("reset", 6)],
        [("balance_limit", None)],
    ]
    assert (engine.accounts["alice"].event_seq, engine.accounts["bob"].event_seq) == (6, 1)


def test_a_restored_engine_numbers_the_rest_alike() -> None:
    commands = trading_commands()
    straight = Engine()
    expected = [numbered(straight, command) for command in commands]
    for split in range(len(commands) + 1):
        first = Engine()
        head = [numbered(first, command) for command in commands[:split]]
        resumed = restore_snapshot(orjson.loads(orjson.dumps(take_snapshot(first))))
        tail = [numbered(resumed, command) for command in commands[split:]]
        assert head + tail == expected
        assert take_snapshot(resumed) == take_snapshot(straight)


def test_a_snapshot_without_event_seqs_restores_at_zero() -> None:
    engine = Engine()
    for command in trading_commands():
        engine.apply(command)  # type: ignore[arg-type]
    data = take_snapshot(engine)
    data["accounts"] = [row[:2] for row in data["accounts"]]  # a snapshot made before seqs
    restored = restore_snapshot(data)
    assert [account.event_seq for account in restored.accounts.values()] == [0, 0]
    assert numbered(restored, CreateOrder(IDS[5], 20, "bob", BTC, Side.BUY, 1_000, 5)) == [
        ("created", 1)
    ]


def test_the_counter_is_drained_with_the_balance() -> None:
    engine = Engine()
    for command in trading_commands():
        engine.apply(command)  # type: ignore[arg-type]
    changes = engine.drain_changes()
    assert [user for user, _ in changes.balances] == ["alice", "bob"]
    assert changes.event_seqs == [6, 2]


class SomethingNew(NamedTuple):
    """An event kind added later (say, a deposit): numbered without any other change."""

    request_id: str
    user_id: str
    amount: int

    @property
    def status(self) -> str:
        return "deposit"


def test_a_new_event_kind_is_numbered_without_more_work() -> None:
    engine = Engine()
    engine.apply(RegisterUser("r1", 1, "alice"))
    events: list[Event] = [SomethingNew("d1", "alice", 100), SomethingNew("d2", "nobody", 1)]  # type: ignore[list-item]
    engine.emit(events)
    assert engine.event_seqs == [1, None]  # an unknown owner has no sequence
    assert owner_getter(SomethingNew) is not None
