"""Reset and deposit (docs/accounts.md "Reset and deposit"), table-driven on the pure
engine: a reset closes and cancels to the cent, a deposit counts against the day's
allowance on the entries' clock, limits and missing prices refuse with nothing changed,
a request id is applied once, and all of it survives a snapshot."""

from __future__ import annotations

import orjson
import pytest

from tests.support.desk import BTC, START, Desk, rejected
from tradepro.domain.commands import CreateOrder
from tradepro.domain.events import (
    AccountReset,
    Deposited,
    OrderCanceled,
    PositionClosed,
)
from tradepro.domain.orders import (
    CloseReason,
    EndReason,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
)
from tradepro.engine import EngineConfig
from tradepro.engine.account_ops import DAY_US
from tradepro.engine.snapshot import restore_snapshot, take_snapshot

CAP = 10_000_000  # $100,000.00 a day
MAX = 100_000_000  # $1,000,000.00


def _desk_with_positions_and_orders() -> tuple[Desk, list[str], list[str]]:
    """alice: a buy and a sell of 0.01 BTC and two pending orders; bob: a buy."""
    desk = Desk()
    desk.tick(1_000_000, 1_000_010)  # bid 100,000.0 ask 100,001.0
    positions = [
        desk.opened(Side.BUY).position.order_id,  # at 100,001.0
        desk.opened(Side.SELL).position.order_id,  # at 100,000.0
    ]
    orders = [
        desk.placed(Side.BUY, OrderType.LIMIT, 900_000).order.order_id,
        desk.placed(Side.SELL, OrderType.STOP, 900_000, qty=2_000).order.order_id,
    ]
    desk.opened(Side.BUY, user="bob")
    return desk, positions, orders


def test_reset_closes_every_position_at_market_and_cancels_every_order_to_the_cent() -> None:
    desk, positions, orders = _desk_with_positions_and_orders()
    bob_before = desk.balance("bob")
    desk.tick(1_001_010, 1_001_110)  # bid 100,101.0 ask 100,111.0
    events = desk.reset()
    *closes_and_cancels, answer = events
    closes = [e for e in closes_and_cancels if isinstance(e, PositionClosed)]
    cancels = [e for e in closes_and_cancels if isinstance(e, OrderCanceled)]
    assert [e.trade.position.order_id for e in closes] == positions  # open order
    assert [e.ended.order.order_id for e in cancels] == orders
    assert closes_and_cancels == [*closes, *cancels]  # positions first, then orders
    # announced under their own ids: no reader mistakes them for the reset's reply
    assert [e.request_id for e in closes] == positions
    assert [e.request_id for e in cancels] == orders
    assert all(e.trade.reason is CloseReason.RESET for e in closes)
    assert all(e.ended.status is OrderStatus.CANCELED for e in cancels)
    assert all(e.ended.reason is EndReason.RESET for e in cancels)
    buy, sell = (e.trade for e in closes)
    # buy 0.01 at 100,001.0, closed at the bid 100,101.0: +$1.00
    assert (buy.close_price, buy.pnl) == (1_001_010, 100)
    # sell 0.01 at 100,000.0, closed at the ask 100,111.0: -$1.11
    assert (sell.close_price, sell.pnl) == (1_001_110, -111)
    assert isinstance(answer, AccountReset)
    entry = answer.entry
    # after the closes alice held 5,000.00 + 1.00 - 1.11 = 4,999.89: the reset adds 0.11
    assert (entry.kind, entry.amount, entry.balance_after) == ("reset", 11, START)
    assert answer.trades == (buy, sell) and len(answer.canceled) == 2
    account = desk.engine.accounts["alice"]
    assert (account.balance, account.locked, account.reserved) == (START, 0, 0)
    assert account.positions == {} and account.orders == {}
    assert desk.balance("bob") == bob_before and len(desk.engine.accounts["bob"].positions) == 1
    desk.ledger_holds()


@pytest.mark.parametrize(
    ("balance", "amount"),
    [
        (None, 0),  # the starting balance, from the starting balance: adds nothing
        (1_000_000, 500_000),  # more
        (1, -499_999),  # less: a negative ledger entry
        (0, -START),  # nothing at all
        (MAX, MAX - START),  # the most allowed
    ],
)
def test_reset_sets_the_balance_asked_for(balance: int | None, amount: int) -> None:
    desk = Desk()
    *_, answer = desk.reset(balance)
    assert isinstance(answer, AccountReset)
    assert answer.entry.amount == amount
    assert desk.balance() == (START if balance is None else balance)
    desk.ledger_holds()


def test_reset_above_the_largest_balance_is_refused() -> None:
    desk = Desk()
    [event] = desk.reset(MAX + 1)
    rejected(event, RejectReason.BALANCE_LIMIT)
    assert "$1,000,000.00" in event.message  # type: ignore[union-attr]
    assert desk.balance() == START


@pytest.mark.parametrize("stale", [True, False])
def test_reset_without_a_fresh_price_changes_nothing(stale: bool) -> None:
    desk, _, _ = _desk_with_positions_and_orders()
    desk.tick(20_000, 20_010, asset="SOL_USDC")
    desk.opened(Side.BUY, asset="SOL_USDC", qty=100)
    if stale:
        desk.now_us += 60_000_000
        desk.tick(1_000_000, 1_000_010)  # BTC fresh, SOL stale
    else:
        del desk.engine.quotes["SOL_USDC"]  # as after a restart before SOL's first tick
    before = (
        desk.balance(),
        desk.engine.deposits_cents,
        dict(desk.engine.accounts["alice"].orders),
    )
    request_id = desk.next_id()
    [event] = desk.reset(request_id=request_id)
    rejected(event, RejectReason.STALE_PRICE if stale else RejectReason.NO_PRICE)
    assert "nothing was reset" in event.message  # type: ignore[union-attr]
    assert "SOL_USDC" in event.message  # type: ignore[union-attr]
    account = desk.engine.accounts["alice"]
    assert (desk.balance(), desk.engine.deposits_cents, account.orders) == before
    assert len(account.positions) == 3
    # the same request, once the price is there, goes through (nothing was used up)
    desk.tick(20_000, 20_010, asset="SOL_USDC")
    desk.tick(1_000_000, 1_000_010)
    *_, answer = desk.reset(request_id=request_id)
    assert isinstance(answer, AccountReset)
    desk.ledger_holds()


def test_a_replayed_reset_or_deposit_changes_nothing() -> None:
    desk = Desk()
    deposit_id = desk.next_id()
    assert isinstance(desk.deposit(1_000, request_id=deposit_id), Deposited)
    replay = desk.deposit(1_000, request_id=deposit_id)
    rejected(replay, RejectReason.DUPLICATE_REQUEST)
    assert "applied before" in replay.message  # type: ignore[union-attr]
    reset_id = desk.next_id()
    *_, first = desk.reset(700_000, request_id=reset_id)
    assert isinstance(first, AccountReset)
    desk.deposit(5_000)
    [again] = desk.reset(700_000, request_id=reset_id)
    rejected(again, RejectReason.DUPLICATE_REQUEST)
    assert desk.balance() == 705_000
    # nor can an order reuse a deposit's id
    rejected(desk.engine.apply(_create_with(desk, deposit_id))[0], RejectReason.DUPLICATE_REQUEST)
    desk.ledger_holds()


def _create_with(desk: Desk, order_id: str) -> CreateOrder:
    desk.tick(1_000_000, 1_000_010)
    return CreateOrder(order_id, desk.now_us, "alice", BTC, Side.BUY, 1_000, 10)


def test_deposit_adds_to_the_balance_and_counts_against_the_day() -> None:
    desk = Desk()
    event = desk.deposit(250_050)
    assert isinstance(event, Deposited)
    assert (event.entry.kind, event.entry.amount, event.entry.balance_after) == (
        "deposit",
        250_050,
        START + 250_050,
    )
    assert event.allowance == CAP - 250_050
    assert desk.balance() == START + 250_050
    desk.ledger_holds()


@pytest.mark.parametrize(
    ("amounts", "refused_at"),
    [
        ([CAP], None),  # exactly the cap
        ([CAP, 1], 1),  # a cent more
        ([CAP - 1, 1, 1], 2),
        ([CAP + 1], 0),
        ([6_000_000, 4_000_001], 1),
    ],
)
def test_the_daily_cap(amounts: list[int], refused_at: int | None) -> None:
    desk = Desk()
    for index, amount in enumerate(amounts):
        event = desk.deposit(amount)
        if index == refused_at:
            rejected(event, RejectReason.DEPOSIT_LIMIT)
            left = CAP - sum(amounts[:index])
            assert f"${left // 100:,}.{left % 100:02d} may still be deposited today" in (
                event.message  # type: ignore[union-attr]
            )
            assert "$100,000.00 per day" in event.message  # type: ignore[union-attr]
        else:
            assert isinstance(event, Deposited), event
    expected = sum(amounts) if refused_at is None else sum(amounts[:refused_at])
    assert desk.balance() == START + expected
    desk.ledger_holds()


def test_the_day_is_the_utc_day_of_the_entries_clock() -> None:
    desk = Desk()
    midnight = (desk.now_us // DAY_US + 1) * DAY_US
    desk.now_us = midnight - 2
    assert isinstance(desk.deposit(CAP), Deposited)  # at 23:59:59.999999
    rejected(desk.deposit(1, after_us=0), RejectReason.DEPOSIT_LIMIT)  # same microsecond
    event = desk.deposit(CAP)  # at 00:00:00.000000 the next day
    assert desk.now_us == midnight
    assert isinstance(event, Deposited) and event.allowance == 0
    # bob's allowance is his own
    assert isinstance(desk.deposit(CAP, user="bob"), Deposited)
    desk.ledger_holds()


def test_deposit_beyond_the_largest_balance_is_refused_counting_margin() -> None:
    desk = Desk()
    desk.reset(MAX - 100_000)
    desk.tick(1_000_000, 1_000_010)
    opened = desk.opened(Side.BUY)  # margin moves from the free balance to locked
    assert opened.position.margin > 0
    event = desk.deposit(100_001)
    rejected(event, RejectReason.BALANCE_LIMIT)
    assert "$1,000.00 may still be deposited" in event.message  # type: ignore[union-attr]
    assert isinstance(desk.deposit(100_000), Deposited)
    desk.ledger_holds()


@pytest.mark.parametrize("amount", [0, -1, -START])
def test_a_deposit_must_be_positive(amount: int) -> None:
    desk = Desk()
    rejected(desk.deposit(amount), RejectReason.INVALID_REQUEST)
    assert desk.balance() == START


def test_unknown_users_are_refused() -> None:
    desk = Desk()
    rejected(desk.deposit(100, user="carol"), RejectReason.UNKNOWN_USER)
    [event] = desk.reset(user="carol")
    rejected(event, RejectReason.UNKNOWN_USER)


def test_the_days_deposits_and_used_ids_survive_a_snapshot() -> None:
    desk = Desk()
    deposit_id = desk.next_id()
    desk.deposit(CAP - 100, request_id=deposit_id)
    reset_id = desk.next_id()
    desk.reset(request_id=reset_id)
    restored = restore_snapshot(orjson.loads(orjson.dumps(take_snapshot(desk.engine))))
    desk.engine = restored
    rejected(desk.deposit(101), RejectReason.DEPOSIT_LIMIT)
    assert isinstance(desk.deposit(100), Deposited)
    rejected(desk.deposit(1, request_id=deposit_id), RejectReason.DUPLICATE_REQUEST)
    [again] = desk.reset(request_id=reset_id)
    rejected(again, RejectReason.DUPLICATE_REQUEST)
    desk.ledger_holds()


def test_a_snapshot_from_before_deposits_restores_with_nothing_deposited_today() -> None:
    desk = Desk()
    desk.deposit(CAP)
    data = take_snapshot(desk.engine)
    del data["depositsToday"]
    desk.engine = restore_snapshot(data)
    assert isinstance(desk.deposit(CAP), Deposited)


def test_limits_come_from_the_configuration() -> None:
    desk = Desk(EngineConfig(max_paper_balance_cents=600_000, daily_deposit_cap_cents=50_000))
    rejected(desk.deposit(50_001), RejectReason.DEPOSIT_LIMIT)
    assert isinstance(desk.deposit(50_000), Deposited)
    rejected(desk.deposit(50_001, user="bob"), RejectReason.DEPOSIT_LIMIT)
    [event] = desk.reset(600_001)
    rejected(event, RejectReason.BALANCE_LIMIT)
    assert isinstance(desk.reset(600_000)[-1], AccountReset)
    rejected(desk.deposit(1), RejectReason.DEPOSIT_LIMIT)  # the day's allowance is used
