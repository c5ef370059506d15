"""Each rule of docs/architecture.md "Orders and triggers", table-driven, on the pure engine."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from tests.support.desk import BTC, START, Desk, only_close, rejected
from tradepro.domain.commands import (
    CreateOrder,
    RegisterUser,
    ReportAccount,
)
from tradepro.domain.events import (
    AccountReported,
    CommandRejected,
    PositionClosed,
    PositionOpened,
    UserRegistered,
)
from tradepro.domain.orders import CloseReason, RejectReason, Side
from tradepro.engine import EngineConfig
from tradepro.protocol.render import callback_body

# -- opening ------------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "open_price"), [(Side.BUY, 1_000_005), (Side.SELL, 1_000_000)])
def test_buy_opens_at_ask_and_sell_at_bid(side: Side, open_price: int) -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    assert desk.opened(side).position.open_price == open_price


@pytest.mark.parametrize(
    ("asset", "ask", "qty", "leverage", "margin"),
    [
        (BTC, 1_000_000, 1_000, 10, 10_000),  # 100000.0 x 0.01 / 10 = 100.00 exactly
        (BTC, 1_000_005, 1_000, 10, 10_001),  # 100.0005 rounds up to 100.01
        (BTC, 950_003, 3, 7, 41),  # 95000.3 x 0.00003 / 7 = 0.40714... -> 0.41
        ("SOL_USDC", 18_001, 1, 3, 61),  # 180.01 x 0.01 / 3 = 0.60003 -> 0.61
        ("ETH_USDC", 350_000, 1, 100, 1),  # 3500.00 x 0.0001 / 100 = 0.0035 -> 0.01
        ("ETH_USDC", 350_000, 10_000, 1, 350_000),  # 1 ETH unlevered = 3500.00
    ],
)
def test_margin_rounds_up_to_the_cent(
    asset: str, ask: int, qty: int, leverage: int, margin: int
) -> None:
    desk = Desk()
    desk.tick(ask - 1, ask, asset=asset)
    event = desk.opened(asset=asset, qty=qty, leverage=leverage)
    assert event.position.margin == margin
    assert event.balance == START - margin
    assert desk.engine.accounts["alice"].locked == margin


def test_margin_equal_to_balance_is_allowed_and_one_cent_more_is_not() -> None:
    desk = Desk()
    desk.tick(999_999, 1_000_000)  # 0.05 BTC at 100000.0 unlevered = 5000.00
    rejected(desk.order(qty=5_001, leverage=1), RejectReason.INSUFFICIENT_BALANCE)
    assert desk.balance() == START
    assert desk.opened(qty=5_000, leverage=1).balance == 0


def test_the_refusal_for_too_little_balance_groups_its_dollars_as_the_page_does() -> None:
    desk = Desk()
    desk.tick(9_577_900, 9_578_040)  # 1,000 BTC at 957,804.0 unlevered: $957,804,000.00
    event = desk.order(qty=100_000_000, leverage=1)
    rejected(event, RejectReason.INSUFFICIENT_BALANCE)
    assert isinstance(event, CommandRejected)
    assert event.message == "margin $957,804,000.00 exceeds the free balance $5,000.00"


# -- take-profit and stop-loss -------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "levels", "quiet_tick", "firing_tick", "reason", "close_price"),
    [
        # buy opened at ask 100000.5; TP when bid >= TP, SL when bid <= SL
        (Side.BUY, {"take_profit": 1_010_000}, (1_009_999, 1_010_004), (1_010_000, 1_010_005),
         CloseReason.TAKE_PROFIT, 1_010_000),
        (Side.BUY, {"stop_loss": 990_000}, (990_001, 990_006), (990_000, 990_005),
         CloseReason.STOP_LOSS, 990_000),
        # a gap past the level closes at the tick's price, not at the level
        (Side.BUY, {"take_profit": 1_010_000}, (1_000_000, 1_000_005), (1_020_000, 1_020_005),
         CloseReason.TAKE_PROFIT, 1_020_000),
        # sell opened at bid 100000.0; TP when ask <= TP, SL when ask >= SL
        (Side.SELL, {"take_profit": 990_000}, (989_996, 990_001), (989_995, 990_000),
         CloseReason.TAKE_PROFIT, 990_000),
        (Side.SELL, {"stop_loss": 1_010_000}, (1_009_994, 1_009_999), (1_009_995, 1_010_000),
         CloseReason.STOP_LOSS, 1_010_000),
        (Side.SELL, {"stop_loss": 1_010_000}, (1_000_000, 1_000_005), (1_012_000, 1_012_005),
         CloseReason.STOP_LOSS, 1_012_005),
    ],
)  # fmt: skip
def test_take_profit_and_stop_loss(
    side: Side,
    levels: dict[str, int],
    quiet_tick: tuple[int, int],
    firing_tick: tuple[int, int],
    reason: CloseReason,
    close_price: int,
) -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    opened = desk.opened(side, leverage=5, **levels)
    assert desk.tick(*quiet_tick) == []
    closed = only_close(desk.tick(*firing_tick))
    assert closed.trade.position == opened.position
    assert closed.trade.reason is reason
    assert closed.trade.close_price == close_price
    assert not closed.trade.liquidated
    assert desk.engine.accounts["alice"].positions == {}
    assert desk.tick(*firing_tick) == []  # closed once, never again


@pytest.mark.parametrize(
    ("side", "levels"),
    [
        (Side.BUY, {"take_profit": 1_000_005}),  # must be above the open (ask)
        (Side.BUY, {"take_profit": 999_000}),
        (Side.BUY, {"stop_loss": 1_000_005}),  # must be below the open
        (Side.BUY, {"stop_loss": 1_100_000}),
        (Side.SELL, {"take_profit": 1_000_000}),  # must be below the open (bid)
        (Side.SELL, {"take_profit": 1_100_000}),
        (Side.SELL, {"stop_loss": 1_000_000}),  # must be above the open
        (Side.SELL, {"stop_loss": 900_000}),
    ],
)
def test_levels_on_the_wrong_side_are_invalid(side: Side, levels: dict[str, int]) -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    rejected(desk.order(side, **levels), RejectReason.INVALID_ORDER)
    assert desk.balance() == START


# -- margin call ---------------------------------------------------------------------------


def remaining_share(opened: PositionOpened, close_price: int) -> Fraction:
    """(margin + exact PnL) / margin, straight from docs/architecture.md, for BTC's scales."""
    position = opened.position
    direction = 1 if position.side is Side.BUY else -1
    pnl_usd = Fraction((close_price - position.open_price) * position.qty * direction, 10**6)
    margin_usd = Fraction(position.margin, 100)
    return (margin_usd + pnl_usd) / margin_usd


@pytest.mark.parametrize("leverage", [1, 2, 10, 33, 100])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_margin_call_exactly_at_the_five_percent_boundary(side: Side, leverage: int) -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    opened = desk.opened(side, qty=1_234, leverage=leverage)
    liquidation = opened.position.liquidation_price
    safe = liquidation + 1 if side is Side.BUY else liquidation - 1
    assert remaining_share(opened, safe) > Fraction(5, 100)
    assert remaining_share(opened, liquidation) <= Fraction(5, 100)

    spread = 5
    quiet = (safe, safe + spread) if side is Side.BUY else (safe - spread, safe)
    assert desk.tick(*quiet) == []
    firing = (
        (liquidation, liquidation + spread)
        if side is Side.BUY
        else (liquidation - spread, liquidation)
    )
    closed = only_close(desk.tick(*firing))
    assert closed.trade.reason is CloseReason.MARGIN_CALL
    assert closed.trade.liquidated
    assert closed.trade.close_price == liquidation


def test_margin_call_outranks_a_stop_loss_hit_on_the_same_tick() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    opened = desk.opened(leverage=100, stop_loss=999_000)
    gap = opened.position.liquidation_price - 100
    closed = only_close(desk.tick(gap, gap + 5))
    assert closed.trade.reason is CloseReason.MARGIN_CALL


def test_stop_loss_above_liquidation_fires_first_as_a_stop_loss() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    opened = desk.opened(leverage=100, stop_loss=995_000)
    assert opened.position.liquidation_price < 995_000
    closed = only_close(desk.tick(994_990, 994_995))
    assert closed.trade.reason is CloseReason.STOP_LOSS
    assert not closed.trade.liquidated


# -- PnL and credit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "close_tick", "pnl"),
    [
        (Side.BUY, (1_010_005, 1_010_010), 1_000),  # +1000.0 x 0.01 = +$10.00
        (Side.BUY, (990_005, 990_010), -1_000),
        (Side.SELL, (989_995, 990_000), 1_000),
        (Side.SELL, (1_009_995, 1_010_000), -1_000),
        (Side.BUY, (1_000_010, 1_000_015), 0),  # +0.5 x 0.01 = +$0.005 -> half-even 0.00
        (Side.BUY, (1_000_020, 1_000_025), 2),  # +1.5 x 0.01 = +$0.015 -> half-even 0.02
        (Side.BUY, (1_000_000, 1_000_005), 0),  # -0.5 x 0.01 = -$0.005 -> half-even -0.00
    ],
)
def test_user_close_pnl_sign_and_rounding(
    side: Side, close_tick: tuple[int, int], pnl: int
) -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)  # buy opens at 100000.5, sell at 100000.0
    opened = desk.opened(side, qty=1_000, leverage=10)
    desk.tick(*close_tick)
    closed = desk.close(opened.position.order_id)
    assert isinstance(closed, PositionClosed)
    assert closed.trade.pnl == pnl
    assert closed.trade.reason is CloseReason.USER
    assert closed.balance == START + pnl
    assert desk.engine.accounts["alice"].locked == 0
    assert desk.engine.house_cents == -pnl


def test_credit_is_floored_at_zero_and_the_house_absorbs_the_gap() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    opened = desk.opened(leverage=100)  # margin $10.01
    margin = opened.position.margin
    closed = only_close(desk.tick(500_000, 500_005))  # price halves in one gap
    assert closed.trade.reason is CloseReason.MARGIN_CALL
    assert closed.trade.pnl == -margin  # not the raw -$500.01
    assert closed.balance == START - margin
    assert desk.engine.house_cents == margin
    assert desk.engine.ledger_total() == desk.engine.deposits_cents


# -- bounds and rejections -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"leverage": 0}, RejectReason.INVALID_ORDER),
        ({"leverage": 101}, RejectReason.INVALID_ORDER),
        ({"qty": 0}, RejectReason.INVALID_ORDER),
        ({"qty": -5}, RejectReason.INVALID_ORDER),
        ({"asset": "DOGE_USDC"}, RejectReason.INVALID_ORDER),
        ({"user": "mallory"}, RejectReason.UNKNOWN_USER),
        ({"price": 1_000_000}, RejectReason.INVALID_ORDER),  # price without slippage
        ({"slippage_bps": 10}, RejectReason.INVALID_ORDER),  # slippage without price
        ({"price": 1_000_000, "slippage_bps": 10_001}, RejectReason.INVALID_ORDER),
        ({"take_profit": 0}, RejectReason.INVALID_ORDER),
        ({"qty": 10**12}, RejectReason.INSUFFICIENT_BALANCE),
    ],
)
def test_order_bounds(changes: dict[str, Any], reason: RejectReason) -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    fields: dict[str, Any] = {"qty": 1_000, "leverage": 10} | changes
    rejected(desk.order(Side.BUY, **fields), reason)
    assert desk.balance() == START


@pytest.mark.parametrize("leverage", [1, 100])
def test_leverage_bounds_are_inclusive(leverage: int) -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    assert desk.opened(leverage=leverage, qty=100).position.leverage == leverage


def test_no_price_yet() -> None:
    desk = Desk()
    rejected(desk.order(), RejectReason.NO_PRICE)
    desk.tick(1_000_000, 1_000_005, asset="ETH_USDC")
    rejected(desk.order(), RejectReason.NO_PRICE)


def test_stale_price_for_open_and_close() -> None:
    max_age_us = 5_000_000
    desk = Desk(EngineConfig(max_price_age_us=max_age_us))
    desk.tick(1_000_000, 1_000_005)
    opened = desk.opened(after_us=max_age_us - 1)  # exactly max age old: still fresh
    rejected(desk.order(after_us=2), RejectReason.STALE_PRICE)
    rejected(desk.close(opened.position.order_id), RejectReason.STALE_PRICE)
    assert desk.engine.accounts["alice"].positions
    desk.tick(1_000_000, 1_000_005)
    assert isinstance(desk.close(opened.position.order_id), PositionClosed)


@pytest.mark.parametrize(
    ("side", "seen", "tolerance_bps", "accepted"),
    [
        # buy executes at ask 100000.5 and is refused above seen x (1 + tolerance)
        (Side.BUY, 1_000_005, 0, True),
        (Side.BUY, 1_000_004, 0, False),
        (Side.BUY, 999_906, 1, True),  # 99990.6 x 1.0001 = 100000.59906
        (Side.BUY, 999_905, 1, False),  # 99990.5 x 1.0001 = 100000.49905
        (Side.BUY, 990_104, 100, True),  # 99010.4 x 1.01 = 100000.504
        (Side.BUY, 990_103, 100, False),  # 99010.3 x 1.01 = 100000.403
        (Side.BUY, 1_200_000, 0, True),  # better than seen is always fine
        # sell executes at bid 100000.0 and is refused below seen x (1 - tolerance)
        (Side.SELL, 1_000_000, 0, True),
        (Side.SELL, 1_000_001, 0, False),
        (Side.SELL, 1_010_101, 100, True),  # 101010.1 x 0.99 = 99999.999
        (Side.SELL, 1_010_102, 100, False),  # 101010.2 x 0.99 = 100000.098
        (Side.SELL, 800_000, 0, True),
    ],
)
def test_slippage_guard(side: Side, seen: int, tolerance_bps: int, accepted: bool) -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    event = desk.order(side, price=seen, slippage_bps=tolerance_bps)
    if accepted:
        assert isinstance(event, PositionOpened), event
        assert event.position.slippage_bps == tolerance_bps
    else:
        rejected(event, RejectReason.SLIPPAGE_EXCEEDED)
        assert desk.balance() == START


# -- ownership, identity, registration -------------------------------------------------------


def test_closing_another_users_order_looks_exactly_like_a_missing_one() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    order_id = desk.opened(user="alice").position.order_id
    theirs = desk.close(order_id, user="bob")
    missing = desk.close("no-such-order", user="bob")
    rejected(theirs, RejectReason.ORDER_NOT_FOUND)
    rejected(missing, RejectReason.ORDER_NOT_FOUND)
    assert isinstance(theirs, CommandRejected) and isinstance(missing, CommandRejected)
    assert theirs.message.replace(order_id, "X") == missing.message.replace("no-such-order", "X")
    assert order_id in desk.engine.accounts["alice"].positions
    assert isinstance(desk.close(order_id, user="alice"), PositionClosed)
    rejected(desk.close(order_id, user="alice"), RejectReason.ORDER_NOT_FOUND)


def test_registering_twice_deposits_once() -> None:
    desk = Desk()
    [again] = desk.engine.apply(RegisterUser("again", desk.now_us, "alice"))
    assert again == UserRegistered("again", "alice", START, created=False)
    assert desk.engine.deposits_cents == 2 * START


def test_an_order_id_cannot_be_reused_while_open() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    command = CreateOrder(desk.next_id(), desk.now_us, "alice", BTC, Side.BUY, 100, 10)
    [first] = desk.engine.apply(command)
    [second] = desk.engine.apply(command)
    assert isinstance(first, PositionOpened)
    rejected(second, RejectReason.DUPLICATE_REQUEST)
    assert len(desk.engine.accounts["alice"].positions) == 1


@pytest.mark.parametrize(
    ("asset", "bid", "ask"),
    [(BTC, 1_000_006, 1_000_005), (BTC, 0, 1_000_005), ("DOGE_USDC", 1, 2)],
)
def test_bad_quotes_are_refused_and_change_nothing(asset: str, bid: int, ask: int) -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    [event] = desk.tick(bid, ask, asset=asset)
    rejected(event, RejectReason.INVALID_PRICE)
    assert desk.engine.quotes[BTC][:2] == (1_000_000, 1_000_005)


def test_simultaneous_closes_come_out_in_open_order() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    first = desk.opened(Side.SELL, take_profit=990_000)
    second = desk.opened(Side.BUY, stop_loss=990_000, user="bob")
    third = desk.opened(Side.SELL, take_profit=995_000)
    events = desk.tick(980_000, 980_005)
    closed = [e.trade.position.order_id for e in events if isinstance(e, PositionClosed)]
    expected = [first, second, third]
    assert closed == [event.position.order_id for event in expected]


# -- reads ---------------------------------------------------------------------------------


def test_account_report_reflects_every_earlier_command() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    first = desk.opened(qty=1_000, leverage=10)  # margin 100.01
    second = desk.opened(Side.SELL, qty=2_000, leverage=20)  # margin 100.00
    desk.tick(1_000_100, 1_000_105)
    [report] = desk.engine.apply(ReportAccount("read", desk.now_us, "alice"))
    assert isinstance(report, AccountReported)
    assert report.balance == START - 10_001 - 10_000
    assert report.locked == 20_001
    positions = [position for position, *_ in report.positions]
    assert positions == [first.position, second.position]
    # buy: (100010.0 - 100000.5) x 0.01 = +0.095 -> 0.10; sell: -(100010.5 - 100000.0) x 0.02
    assert [pnl for _, pnl, _ in report.positions] == [10, -21]
    # Equity rounds once per asset: +0.095 - 0.21 = -0.115 -> -0.12 (half-even), where the
    # positions' own rounded figures add up to -0.11 (docs/architecture.md "Reads").
    assert report.unrealized == -12
    assert report.equity == START - 10_001 - 10_000 + 20_001 - 12
    [unknown] = desk.engine.apply(ReportAccount("read2", desk.now_us, "mallory"))
    rejected(unknown, RejectReason.UNKNOWN_USER)
    # A balance-only read: the same totals, and the answer lists no positions.
    [summary] = desk.engine.apply(ReportAccount("read3", desk.now_us, "alice", orders=False))
    assert isinstance(summary, AccountReported)
    assert (summary.balance, summary.locked, summary.equity) == (
        report.balance, report.locked, report.equity,
    )  # fmt: skip
    instruments = desk.engine.config.instruments
    short, full = callback_body(summary, instruments), callback_body(report, instruments)
    assert "orders" not in short and short["equity"] == full["equity"]
    assert len(full["orders"]) == 2
