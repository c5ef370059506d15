"""Managing open positions (docs/managing-positions.md), table-driven on the pure engine:
modify take-profit / stop-loss / trailing stop, partial close, close-all, trailing stops on
scripted price paths, commission."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.support.desk import BTC, START, Desk, only_close, rejected
from tradepro.domain.events import (
    AllClosed,
    OrderAmended,
    OrderFilled,
    PositionClosed,
    PositionModified,
    PositionOpened,
)
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS, instrument_table
from tradepro.domain.orders import CloseReason, OrderType, RejectReason, Side
from tradepro.engine import EngineConfig
from tradepro.engine.books import SEQ_MASK
from tradepro.engine.manage import trailing_level
from tradepro.engine.snapshot import restore_snapshot, take_snapshot

# -- modify ---------------------------------------------------------------------------------


def _open(desk: Desk, side: Side, **kw: object) -> PositionOpened:
    desk.tick(1_000_000, 1_000_010)
    return desk.opened(side, qty=1_000, leverage=10, **kw)


@pytest.mark.parametrize(
    ("side", "change", "quiet", "firing", "reason"),
    [
        # a buy closes at the bid: TP when bid >= TP, SL when bid <= SL
        (Side.BUY, {"take_profit": 1_000_500}, 1_000_499, 1_000_500, CloseReason.TAKE_PROFIT),
        (Side.BUY, {"stop_loss": 999_500}, 999_501, 999_500, CloseReason.STOP_LOSS),
        # a sell closes at the ask: TP when ask <= TP, SL when ask >= SL
        (Side.SELL, {"take_profit": 999_500}, 999_501, 999_500, CloseReason.TAKE_PROFIT),
        (Side.SELL, {"stop_loss": 1_000_500}, 1_000_499, 1_000_500, CloseReason.STOP_LOSS),
    ],
)
def test_a_modified_level_fires_exactly_at_its_price(
    side: Side, change: dict[str, int], quiet: int, firing: int, reason: CloseReason
) -> None:
    desk = Desk()
    # first a level far away, then moved: the old level must never fire
    far = {"take_profit": 2_000_000 if side is Side.BUY else 10, "stop_loss": None}
    opened = _open(desk, side, **{k: v for k, v in far.items() if v is not None})
    order_id = opened.position.order_id
    event = desk.modify(order_id, **change)
    assert isinstance(event, PositionModified), event
    for name, value in change.items():
        assert getattr(event.position, name) == value
    assert event.position.seq != opened.position.seq
    assert desk.tick(quiet, quiet) == []
    closed = only_close(desk.tick(firing, firing))
    assert closed.trade.reason is reason and closed.trade.close_price == firing
    desk.ledger_holds()


def test_an_old_level_is_dead_after_modify_and_a_cleared_level_never_fires() -> None:
    desk = Desk()
    opened = _open(desk, Side.BUY, take_profit=1_000_100, stop_loss=999_000)
    order_id = opened.position.order_id
    assert isinstance(desk.modify(order_id, take_profit=1_000_300), PositionModified)
    assert isinstance(desk.modify(order_id, stop_loss=None), PositionModified)
    assert desk.tick(1_000_100, 1_000_110) == []  # the old take-profit
    assert desk.tick(999_000, 999_010) == []  # the cleared stop-loss
    assert only_close(desk.tick(1_000_300, 1_000_310)).trade.reason is CloseReason.TAKE_PROFIT


@pytest.mark.parametrize(
    ("side", "change", "message"),
    [
        (Side.BUY, {"take_profit": 1_000_000}, "takeProfit must be above the current bid"),
        (Side.BUY, {"stop_loss": 1_000_000}, "stopLoss must be below the current bid"),
        (Side.SELL, {"take_profit": 1_000_010}, "takeProfit must be below the current ask"),
        (Side.SELL, {"stop_loss": 1_000_010}, "stopLoss must be above the current ask"),
        (Side.BUY, {"take_profit": 0}, "takeProfit must be positive"),
        (Side.BUY, {"trailing_stop": -5}, "trailingStop must be positive"),
        (Side.SELL, {}, "nothing to modify"),
    ],
)
def test_a_level_the_price_has_reached_is_refused_and_nothing_changes(
    side: Side, change: dict[str, int], message: str
) -> None:
    desk = Desk()
    opened = _open(desk, side)
    event = desk.modify(opened.position.order_id, **change)
    rejected(event, RejectReason.INVALID_ORDER)
    assert message in event.message  # type: ignore[union-attr]
    assert desk.engine.accounts["alice"].positions[opened.position.order_id] == opened.position


def test_modify_or_close_another_users_position_is_order_not_found() -> None:
    desk = Desk()
    opened = _open(desk, Side.BUY)
    order_id = opened.position.order_id
    rejected(desk.modify(order_id, user="bob", take_profit=2_000_000), RejectReason.ORDER_NOT_FOUND)
    rejected(desk.close_part(order_id, 100, user="bob"), RejectReason.ORDER_NOT_FOUND)
    [answer] = desk.close_all(user="bob")
    assert isinstance(answer, AllClosed) and answer.trades == ()
    assert order_id in desk.engine.accounts["alice"].positions


# -- partial close ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "qty", "leverage", "part", "close_bid", "close_ask"),
    [
        (Side.BUY, 1_001, 7, 333, 1_000_007, 1_000_017),  # odd: margin and PnL round
        (Side.SELL, 999, 3, 1, 999_993, 1_000_003),
        (Side.BUY, 7, 100, 3, 999_001, 999_011),  # margins of a few cents
        (Side.SELL, 12_345, 13, 6_789, 1_001_233, 1_001_243),
    ],
)
def test_partial_close_leaves_exactly_the_position_of_the_remaining_qty(
    side: Side, qty: int, leverage: int, part: int, close_bid: int, close_ask: int
) -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_010)
    opened = desk.opened(side, qty=qty, leverage=leverage).position
    contract = desk.engine.contracts[BTC]
    desk.tick(close_bid, close_ask)
    before = desk.balance()
    event = desk.close_part(opened.order_id, part)
    assert isinstance(event, PositionClosed), event
    remaining = event.remaining
    assert remaining is not None
    left = qty - part
    # the remainder: as if opened with the remaining qty at the same price and leverage
    margin = contract.margin(opened.open_price, left, leverage)
    assert remaining.qty == left and remaining.margin == margin
    assert remaining.open_price == opened.open_price
    assert remaining.liquidation_price == contract.liquidation_price(
        side, opened.open_price, left, margin
    )
    # credited: the difference of margins + the closed part's PnL, half-even to the cent
    price = close_bid if side is Side.BUY else close_ask
    sign = 1 if side is Side.BUY else -1
    exact = Fraction(sign * (price - opened.open_price) * part, 10 * 100_000) * 100
    pnl = round(exact)  # Python rounds half-even
    assert event.trade.pnl == pnl and event.trade.close_price == price
    assert event.trade.position.qty == part
    assert event.trade.id == event.request_id != opened.order_id
    assert event.balance == before + (opened.margin - margin) + pnl
    assert desk.engine.accounts["alice"].locked == margin
    desk.ledger_holds()


def test_partial_close_is_idempotent_and_refuses_bad_quantities() -> None:
    desk = Desk()
    opened = _open(desk, Side.BUY)
    order_id = opened.position.order_id
    first = desk.close_part(order_id, 400)
    assert isinstance(first, PositionClosed)
    again = desk.close_part(order_id, 400, request_id=first.request_id)
    rejected(again, RejectReason.DUPLICATE_REQUEST)
    assert desk.engine.accounts["alice"].positions[order_id].qty == 600
    rejected(desk.close_part(order_id, 600), RejectReason.INVALID_ORDER)  # = open qty
    rejected(desk.close_part(order_id, 601), RejectReason.INVALID_ORDER)
    rejected(desk.close_part(order_id, 0), RejectReason.INVALID_ORDER)
    rejected(desk.close_part(order_id, 100, request_id="not-a-uuid"), RejectReason.INVALID_ORDER)
    desk.ledger_holds()


def test_the_remainder_keeps_its_levels_and_is_reindexed() -> None:
    desk = Desk()
    opened = _open(desk, Side.BUY, take_profit=1_000_500, stop_loss=999_500)
    event = desk.close_part(opened.position.order_id, 500)
    assert isinstance(event, PositionClosed) and event.remaining is not None
    assert desk.tick(1_000_499, 1_000_509) == []
    closed = only_close(desk.tick(1_000_500, 1_000_510))
    assert closed.trade.position.qty == 500 and closed.trade.reason is CloseReason.TAKE_PROFIT
    assert desk.engine.accounts["alice"].locked == 0
    desk.ledger_holds()


# -- close all ----------------------------------------------------------------------------


def test_close_all_closes_every_own_position_or_one_assets_in_one_command() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_010)
    desk.tick(20_000, 20_010, asset="SOL_USDC")
    btc = [desk.opened(side).position.order_id for side in (Side.BUY, Side.SELL, Side.BUY)]
    sol = desk.opened(Side.BUY, asset="SOL_USDC", qty=100).position.order_id
    bobs = desk.opened(Side.BUY, user="bob").position.order_id
    events = desk.close_all(asset=BTC)
    *closes, answer = events
    assert isinstance(answer, AllClosed)
    assert [trade.position.order_id for trade in answer.trades] == btc
    assert [e.trade for e in closes if isinstance(e, PositionClosed)] == list(answer.trades)
    assert all(trade.reason is CloseReason.USER for trade in answer.trades)
    assert set(desk.engine.accounts["alice"].positions) == {sol}
    *_, last = desk.close_all()
    assert isinstance(last, AllClosed) and [t.position.order_id for t in last.trades] == [sol]
    assert desk.engine.accounts["alice"].positions == {}
    assert bobs in desk.engine.accounts["bob"].positions
    desk.ledger_holds()


def test_close_all_is_refused_whole_when_a_price_is_missing() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_010)
    desk.tick(20_000, 20_010, asset="SOL_USDC")
    desk.opened(Side.BUY)
    desk.opened(Side.BUY, asset="SOL_USDC", qty=100)
    desk.now_us += 60_000_000
    desk.tick(1_000_000, 1_000_010)  # BTC fresh, SOL stale
    [event] = desk.close_all()
    rejected(event, RejectReason.STALE_PRICE)
    assert len(desk.engine.accounts["alice"].positions) == 2
    [unknown] = desk.close_all(asset="NOPE_USD")
    rejected(unknown, RejectReason.INVALID_ORDER)


# -- trailing stops -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "distance", "path", "fire_at", "levels"),
    [
        # buy: highest bid since set - distance; fires when bid <= level
        (
            Side.BUY,
            300,
            [1_000_100, 1_000_500, 1_000_400, 1_000_201, 1_000_600, 1_000_300],
            5,
            [999_800, 1_000_200, 1_000_200, 1_000_200, 1_000_300],
        ),
        # sell: lowest ask since set + distance; fires when ask >= level
        (
            Side.SELL,
            300,
            [1_000_000, 999_500, 999_700, 999_799, 999_400, 999_700],
            5,
            [1_000_300, 999_800, 999_800, 999_800, 999_700],
        ),
        # a gap: fires at the tick's price, below the level
        (Side.BUY, 50, [1_000_020, 999_000], 1, [999_970]),
    ],
)
def test_a_trailing_stop_fires_on_the_exact_tick_and_price(
    side: Side, distance: int, path: list[int], fire_at: int, levels: list[int]
) -> None:
    desk = Desk()
    opened = _open(desk, side, trailing_stop=distance)  # bid 1_000_000, ask 1_000_010
    seq = opened.position.seq
    for step, price in enumerate(path):
        bid, ask = (price, price + 10) if side is Side.BUY else (price - 10, price)
        events = desk.tick(bid, ask)
        if step < fire_at:
            assert events == [], (step, events)
            position = desk.engine.open_by_seq[seq]
            assert trailing_level(desk.engine, position) == levels[step], step
        else:
            closed = only_close(events)
            assert closed.trade.reason is CloseReason.TRAILING_STOP
            assert closed.trade.close_price == price
            break
    else:
        pytest.fail("never fired")
    desk.ledger_holds()


def test_trailing_stops_set_at_different_times_keep_their_own_extremes() -> None:
    desk = Desk()
    first = _open(desk, Side.BUY, trailing_stop=100).position.order_id
    desk.tick(1_000_200, 1_000_210)
    second = desk.opened(Side.BUY, trailing_stop=100).position.order_id  # extreme 1_000_200
    desk.tick(1_000_150, 1_000_160)
    positions = desk.engine.accounts["alice"].positions
    assert trailing_level(desk.engine, positions[first]) == 1_000_100
    assert trailing_level(desk.engine, positions[second]) == 1_000_100
    closed = desk.tick(1_000_100, 1_000_110)
    assert sorted(e.trade.position.order_id for e in closed if isinstance(e, PositionClosed)) == (
        sorted([first, second])
    )


def test_modify_sets_moves_and_clears_a_trailing_stop_and_partial_close_keeps_its_extreme() -> None:
    desk = Desk()
    order_id = _open(desk, Side.BUY).position.order_id
    modified = desk.modify(order_id, trailing_stop=200)
    assert isinstance(modified, PositionModified) and modified.trailing_level == 999_800
    desk.tick(1_000_400, 1_000_410)
    part = desk.close_part(order_id, 100)
    assert isinstance(part, PositionClosed) and part.remaining is not None
    assert trailing_level(desk.engine, part.remaining) == 1_000_200  # extreme kept
    cleared = desk.modify(order_id, trailing_stop=None)
    assert isinstance(cleared, PositionModified) and cleared.trailing_level is None
    assert desk.tick(1_000_000, 1_000_010) == []


def test_trailing_extremes_survive_a_snapshot() -> None:
    desk = Desk()
    buy = _open(desk, Side.BUY, trailing_stop=300).position.order_id
    sell = desk.opened(Side.SELL, trailing_stop=1_000).position.order_id
    desk.tick(1_000_500, 1_000_510)
    desk.tick(999_000, 999_010)  # buy fires (level 1_000_200); sell's low ask is 999_010
    restored = restore_snapshot(take_snapshot(desk.engine), desk.engine.config)
    positions = restored.accounts["alice"].positions
    assert buy not in positions
    assert trailing_level(restored, positions[sell]) == 1_000_010
    assert len(restored.trailing[BTC][1]) == 1


def test_a_tick_with_a_new_high_touches_groups_not_positions() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_010)
    for distance in range(100, 1_100):
        desk.opened(Side.BUY, qty=1, trailing_stop=distance)
    book = desk.engine.trailing[BTC][0]
    assert len(book) == 1_000 and len(book.groups) == 1
    for step in range(1, 50):
        desk.tick(1_000_000 + step, 1_000_010 + step)
        assert len(book.groups) == 1  # one shared extreme
    group = next(iter(book.groups.values()))
    assert group.extreme == 1_000_049
    members = {key & SEQ_MASK for _, run in group.runs for key in run.keys}
    assert members == set(book.run_of)


# -- commission ---------------------------------------------------------------------------


def _commission_desk(bps: int) -> Desk:
    table = dict(DEFAULT_INSTRUMENTS)
    table[BTC] = table[BTC]._replace(commission_bps=bps)
    return Desk(EngineConfig(instruments=instrument_table(table.values())))


@pytest.mark.parametrize(
    ("bps", "qty", "ask", "close_bid", "open_fee", "close_fee"),
    [
        (10, 1_000, 1_000_010, 1_000_500, 101, 101),  # $1000.01 x 0.1 % = 1.00001 -> 1.01
        (5, 333, 999_999, 999_999, 17, 17),  # $333.00 x 0.05 % = 0.1665 -> 0.17
        (1, 1, 1_000_010, 1_000_000, 1, 1),  # a cent at least
        (0, 1_000, 1_000_010, 1_000_500, 0, 0),
    ],
)
def test_commission_to_the_cent_on_open_and_close(
    bps: int, qty: int, ask: int, close_bid: int, open_fee: int, close_fee: int
) -> None:
    desk = _commission_desk(bps)
    desk.tick(ask - 10, ask)
    opened = desk.opened(Side.BUY, qty=qty, leverage=10)
    margin = opened.position.margin
    assert opened.position.commission == open_fee
    assert opened.balance == START - margin - open_fee
    desk.tick(close_bid, close_bid + 10)
    closed = desk.close(opened.position.order_id)
    assert isinstance(closed, PositionClosed)
    assert closed.trade.commission == open_fee + close_fee
    assert closed.balance == START + closed.trade.pnl - open_fee - close_fee
    assert desk.engine.house_cents == -closed.trade.pnl + open_fee + close_fee
    desk.ledger_holds()


def test_partial_closes_split_the_open_commission_and_every_cent_is_counted() -> None:
    desk = _commission_desk(7)
    desk.tick(1_000_000, 1_000_010)
    opened = desk.opened(Side.SELL, qty=1_001, leverage=5)
    order_id = opened.position.order_id
    trades = []
    for part in (333, 333):
        event = desk.close_part(order_id, part)
        assert isinstance(event, PositionClosed)
        trades.append(event.trade)
    last = desk.close(order_id)
    assert isinstance(last, PositionClosed)
    trades.append(last.trade)
    contract = desk.engine.contracts[BTC]
    closes = sum(contract.commission(t.close_price, t.position.qty) for t in trades)
    assert sum(t.commission for t in trades) == opened.position.commission + closes
    assert desk.balance() == START + sum(t.pnl - t.commission for t in trades)
    desk.ledger_holds()


def test_commission_counts_toward_the_balance_needed_to_open() -> None:
    desk = _commission_desk(100)  # 1 %
    desk.tick(999_990, 1_000_000)  # 0.05 BTC unlevered = $5,000.00 margin, + $50.00
    event = desk.order(qty=5_000, leverage=1)
    rejected(event, RejectReason.INSUFFICIENT_BALANCE)
    assert "margin and commission $5,050.00" in event.message  # type: ignore[union-attr]
    assert isinstance(desk.order(qty=4_950, leverage=1), PositionOpened)
    desk.ledger_holds()


def test_a_liquidated_position_pays_no_close_commission_beyond_what_is_left() -> None:
    desk = _commission_desk(50)
    desk.tick(1_000_000, 1_000_010)
    opened = desk.opened(Side.BUY, qty=1_000, leverage=100)
    closed = only_close(desk.tick(900_000, 900_010))  # far past the liquidation price
    assert closed.trade.reason is CloseReason.MARGIN_CALL
    assert closed.trade.pnl == -opened.position.margin
    assert closed.trade.commission == opened.position.commission  # nothing left to charge
    desk.ledger_holds()


# -- trailing stops on pending orders -------------------------------------------------------


def test_a_pending_orders_trailing_stop_trails_from_the_fill() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_010)
    placed = desk.placed(Side.BUY, OrderType.LIMIT, 999_000, trailing_stop=300)
    assert placed.order.trailing_stop == 300
    amended = desk.amend(placed.order.order_id, trailing_stop=400)
    assert isinstance(amended, OrderAmended) and amended.order.trailing_stop == 400
    [filled] = desk.tick(998_990, 999_000)  # fills at the ask 999_000; the bid is 998_990
    assert isinstance(filled, OrderFilled) and filled.position.trailing_stop == 400
    assert trailing_level(desk.engine, filled.position) == 998_590  # from the fill's bid
    assert desk.tick(998_600, 998_610) == []
    closed = only_close(desk.tick(998_590, 998_600))
    assert closed.trade.reason is CloseReason.TRAILING_STOP
    rejected(
        desk.pend(Side.SELL, OrderType.LIMIT, 1_001_000, trailing_stop=0),
        RejectReason.INVALID_ORDER,
    )
    desk.ledger_holds()
