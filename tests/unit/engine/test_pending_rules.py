"""Each rule of docs/pending-orders.md, table-driven, on the pure engine: placement sides,
exact fill prices at the boundary tick and through a gap, reservation and release to the
cent, a gap-through stop cancelled for balance, expiry, amend, cancel, and the order of
closes and fills on one tick."""

from __future__ import annotations

import pytest

from tests.support.desk import BTC, START, Desk, rejected
from tradepro.domain.commands import CreateOrder, ReportAccount
from tradepro.domain.events import (
    AccountReported,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPlaced,
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

BUY, SELL = Side.BUY, Side.SELL
LIMIT, STOP = OrderType.LIMIT, OrderType.STOP
BID, ASK = 999_990, 1_000_010
"""The market at placement: $99,999.0 / $100,001.0."""


def market_desk() -> Desk:
    desk = Desk()
    desk.tick(BID, ASK)
    return desk


# -- placement ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "order_type", "price", "accepted"),
    [
        (BUY, LIMIT, ASK - 1, True),
        (BUY, LIMIT, ASK, False),  # would fill at once: a market order's job
        (BUY, STOP, ASK + 1, True),
        (BUY, STOP, ASK, False),
        (SELL, LIMIT, BID + 1, True),
        (SELL, LIMIT, BID, False),
        (SELL, STOP, BID - 1, True),
        (SELL, STOP, BID, False),
    ],
)
def test_the_price_must_be_on_the_waiting_side_of_the_market(
    side: Side, order_type: OrderType, price: int, accepted: bool
) -> None:
    desk = market_desk()
    event = desk.pend(side, order_type, price)
    if accepted:
        assert isinstance(event, OrderPlaced)
        assert event.order.price == price and event.order.order_type is order_type
    else:
        rejected(event, RejectReason.INVALID_ORDER)
        assert "must be" in event.message  # type: ignore[union-attr]
        assert desk.balance() == START and desk.reserved() == 0
    desk.ledger_holds()


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"order_type": LIMIT}, "limitPrice is required"),
        ({"order_type": STOP}, "stopPrice is required"),
        ({"order_type": LIMIT, "trigger_price": 990_000, "price": 990_000, "slippage_bps": 5},
         "market orders only"),
        ({"trigger_price": 990_000}, "limit and stop orders only"),
        ({"expires_us": 1}, "expiresAt applies"),
        ({"order_type": LIMIT, "trigger_price": 990_000, "expires_us": 1}, "in the future"),
        ({"order_type": LIMIT, "trigger_price": 990_000, "take_profit": 990_000},
         "takeProfit must be above the order's price"),
        ({"order_type": LIMIT, "trigger_price": 990_000, "stop_loss": 990_000},
         "stopLoss must be below the order's price"),
    ],
)  # fmt: skip
def test_malformed_pending_orders_are_invalid_and_name_the_field(
    fields: dict[str, object], word: str
) -> None:
    desk = market_desk()
    event = desk.order(BUY, **fields)
    rejected(event, RejectReason.INVALID_ORDER)
    assert word in event.message  # type: ignore[union-attr]
    assert desk.reserved() == 0


def test_take_profit_and_stop_loss_are_checked_against_the_orders_price() -> None:
    """A buy limit far below the market may carry a take-profit below the current ask."""
    desk = market_desk()
    event = desk.placed(BUY, LIMIT, 900_000, take_profit=950_000, stop_loss=890_000)
    assert event.order.take_profit == 950_000


def test_no_and_stale_prices_refuse_a_pending_order() -> None:
    desk = Desk()
    rejected(desk.pend(BUY, LIMIT, 990_000), RejectReason.NO_PRICE)
    desk.tick(BID, ASK)
    rejected(desk.pend(BUY, LIMIT, 990_000, after_us=10_000_001), RejectReason.STALE_PRICE)


# -- reservation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "qty", "leverage", "reserved"),
    [
        (990_000, 1_000, 10, 9_900),  # 99000.0 x 0.01 / 10 = 99.00 exactly
        (990_003, 3, 7, 43),  # 99000.3 x 0.00003 / 7 = 0.42429 -> 0.43
        (990_005, 1_000, 10, 9_901),  # 99.0005 -> 99.01
    ],
)
def test_reservation_is_the_margin_at_the_orders_price_rounded_up_and_is_released(
    price: int, qty: int, leverage: int, reserved: int
) -> None:
    desk = market_desk()
    event = desk.placed(BUY, LIMIT, price, qty=qty, leverage=leverage)
    assert event.order.reserved == reserved
    assert event.balance == desk.balance() == START - reserved
    assert desk.reserved() == reserved
    [report] = desk.engine.apply(ReportAccount(desk.next_id(), desk.now_us, "alice", False))
    assert isinstance(report, AccountReported)
    assert report.reserved == reserved and report.equity == START
    desk.ledger_holds()
    canceled = desk.cancel(event.order.order_id)
    assert isinstance(canceled, OrderCanceled)
    assert canceled.ended.status is OrderStatus.CANCELED
    assert canceled.ended.reason is EndReason.USER
    assert canceled.balance == desk.balance() == START and desk.reserved() == 0
    desk.ledger_holds()


def test_a_reservation_equal_to_the_balance_is_allowed_and_one_cent_more_is_not() -> None:
    desk = market_desk()  # 0.05 BTC at 100000.0 unlevered = 5000.00
    rejected(
        desk.pend(BUY, LIMIT, 1_000_000, qty=5_001, leverage=1), RejectReason.INSUFFICIENT_BALANCE
    )
    assert desk.placed(BUY, LIMIT, 1_000_000, qty=5_000, leverage=1).balance == 0
    desk.ledger_holds()


# -- fills --------------------------------------------------------------------------------

FILLS = [
    # side, type, price, (bid, ask) one tick short, at the boundary, through a gap
    (BUY, LIMIT, 990_000, (989_980, 990_001), (989_980, 990_000), (979_990, 980_000)),
    (BUY, STOP, 1_010_000,
     (1_009_980, 1_009_999), (1_009_980, 1_010_000), (1_019_990, 1_020_000)),
    (SELL, LIMIT, 1_010_000,
     (1_009_999, 1_010_020), (1_010_000, 1_010_020), (1_020_000, 1_020_010)),
    (SELL, STOP, 990_000, (990_001, 990_020), (990_000, 990_020), (980_000, 980_010)),
]  # fmt: skip


@pytest.mark.parametrize(("side", "order_type", "price", "short", "boundary", "gap"), FILLS)
@pytest.mark.parametrize("through", ["boundary", "gap"])
def test_fills_at_the_triggering_ticks_ask_or_bid(
    side: Side,
    order_type: OrderType,
    price: int,
    short: tuple[int, int],
    boundary: tuple[int, int],
    gap: tuple[int, int],
    through: str,
) -> None:
    desk = market_desk()
    order = desk.placed(side, order_type, price).order
    assert desk.tick(*short) == []
    bid, ask = boundary if through == "boundary" else gap
    [filled] = desk.tick(bid, ask)
    assert isinstance(filled, OrderFilled)
    fill_price = ask if side is BUY else bid
    position = filled.position
    assert position.open_price == fill_price
    assert position.order_id == order.order_id and position.side is side
    contract = desk.engine.contracts[BTC]
    margin = contract.margin(fill_price, order.qty, order.leverage)
    assert position.margin == margin
    assert position.liquidation_price == contract.liquidation_price(
        side, fill_price, order.qty, margin
    )
    assert filled.ended.status is OrderStatus.FILLED
    assert desk.reserved() == 0
    assert desk.balance() == START - margin == filled.balance
    assert desk.engine.accounts["alice"].positions[order.order_id] == position
    assert desk.engine.accounts["alice"].orders == {}
    desk.ledger_holds()


def test_a_stop_that_gaps_beyond_reservation_and_balance_is_cancelled_for_balance() -> None:
    desk = market_desk()
    # 101000.0 x 0.0495 = 4999.50 reserved of the 5000.00
    order = desk.placed(BUY, STOP, 1_010_000, qty=4_950, leverage=1).order
    assert desk.balance() == 50
    [canceled] = desk.tick(1_019_990, 1_020_000)  # 102000.0 x 0.0495 = 5049.00 > 5000.00
    assert isinstance(canceled, OrderCanceled)
    assert canceled.ended.status is OrderStatus.REJECTED
    assert canceled.ended.reason is EndReason.INSUFFICIENT_BALANCE
    assert canceled.ended.order == order
    assert desk.balance() == START and desk.reserved() == 0
    assert desk.engine.accounts["alice"].positions == {}
    desk.ledger_holds()


def test_a_fill_may_use_free_balance_beyond_its_reservation() -> None:
    desk = market_desk()
    desk.placed(BUY, STOP, 1_010_000, qty=1_000, leverage=1)  # 1010.00 reserved
    [filled] = desk.tick(1_019_990, 1_020_000)  # 1020.00 at the fill
    assert isinstance(filled, OrderFilled)
    assert desk.balance() == START - 102_000
    desk.ledger_holds()


def test_closes_come_first_then_fills_by_trigger_price_then_placement() -> None:
    desk = market_desk()
    held = desk.opened(BUY, qty=4_000, leverage=1, take_profit=1_005_000).position  # 4000.04
    first = desk.placed(BUY, STOP, 1_010_000, qty=100, leverage=1).order
    cheaper = desk.placed(BUY, STOP, 1_008_000, qty=100, leverage=1).order
    second = desk.placed(BUY, STOP, 1_010_000, qty=100, leverage=1).order
    # Without the take-profit's credit first, the last fill's margin would not be covered.
    big = desk.placed(BUY, STOP, 1_020_000, qty=580, leverage=1).order
    events = desk.tick(1_029_990, 1_030_000)
    assert [type(event) for event in events] == [PositionClosed] + [OrderFilled] * 4
    closed = events[0]
    assert isinstance(closed, PositionClosed) and closed.trade.position == held
    filled = [event.ended.order for event in events[1:]]  # type: ignore[union-attr]
    assert filled == [cheaper, first, second, big]
    desk.ledger_holds()


def test_a_filled_positions_own_triggers_count_from_the_next_tick() -> None:
    desk = market_desk()
    order = desk.placed(BUY, LIMIT, 990_000, stop_loss=985_000).order
    [filled] = desk.tick(979_990, 980_000)  # fills at 980000; bid is already below the SL
    assert isinstance(filled, OrderFilled)
    [closed] = desk.tick(979_990, 980_000)
    assert isinstance(closed, PositionClosed)
    assert closed.trade.position.order_id == order.order_id
    assert closed.trade.reason is CloseReason.STOP_LOSS
    desk.ledger_holds()


def test_fills_happen_only_on_their_own_assets_ticks() -> None:
    desk = market_desk()
    desk.placed(BUY, LIMIT, 990_000)
    desk.tick(100, 101, asset="ETH_USDC")
    assert desk.engine.accounts["alice"].orders != {}


# -- expiry -------------------------------------------------------------------------------


def test_an_order_expires_on_the_first_input_at_or_after_its_time() -> None:
    desk = market_desk()
    expires = desk.now_us + 1_000
    order = desk.placed(BUY, LIMIT, 990_000, expires_us=expires).order
    desk.now_us = expires - 2
    assert desk.tick(BID, ASK) == []  # one microsecond before
    assert desk.engine.accounts["alice"].orders
    desk.now_us = expires - 1
    events = desk.tick(979_990, 980_000)  # at its time: it expires before the tick fills
    [expired] = events
    assert isinstance(expired, OrderExpired)
    assert expired.request_id == order.order_id
    assert expired.ended.status is OrderStatus.EXPIRED and expired.ended.ended_us == expires
    assert desk.balance() == START and desk.reserved() == 0
    desk.ledger_holds()


def test_any_input_expires_orders_and_its_own_events_follow() -> None:
    desk = market_desk()
    desk.placed(BUY, LIMIT, 990_000, expires_us=desk.now_us + 10)
    bob = desk.placed(SELL, LIMIT, 1_010_000, user="bob", expires_us=desk.now_us + 5).order
    desk.now_us += 100
    events = desk.engine.apply(ReportAccount(desk.next_id(), desk.now_us, "alice", False))
    assert [type(event) for event in events] == [OrderExpired, OrderExpired, AccountReported]
    assert events[0].ended.order == bob  # type: ignore[union-attr]  # the earlier expiry first
    assert events[2].reserved == 0  # type: ignore[union-attr]
    desk.ledger_holds()


def test_a_cancelled_orders_expiry_does_nothing() -> None:
    desk = market_desk()
    order = desk.placed(BUY, LIMIT, 990_000, expires_us=desk.now_us + 10).order
    desk.cancel(order.order_id)
    desk.now_us += 100
    assert desk.tick(BID, ASK) == []
    assert desk.engine.expiries.due_us > desk.now_us


# -- amend and cancel ---------------------------------------------------------------------


def test_amend_checks_and_reserves_again_as_if_placed_now() -> None:
    desk = market_desk()
    order = desk.placed(BUY, LIMIT, 990_000).order  # 99.00
    amended = desk.amend(order.order_id, qty=2_000, price=980_000, take_profit=995_000)
    assert isinstance(amended, OrderAmended)
    new = amended.order
    assert (new.order_id, new.qty, new.price, new.take_profit) == (
        order.order_id, 2_000, 980_000, 995_000,
    )  # fmt: skip
    assert new.reserved == 19_600 and new.seq > order.seq
    assert new.created_us == order.created_us
    assert desk.balance() == START - 19_600 and desk.reserved() == 19_600
    desk.ledger_holds()
    # A level can be cleared, and the old price's book entry no longer fires
    cleared = desk.amend(order.order_id, take_profit=None)
    assert isinstance(cleared, OrderAmended) and cleared.order.take_profit is None
    assert desk.tick(988_990, 989_000) == []  # ask 989000 would have filled the old 990000
    desk.ledger_holds()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"price": ASK + 5}, RejectReason.INVALID_ORDER),  # not below the ask any more
        ({"qty": 0}, RejectReason.INVALID_ORDER),
        ({"stop_loss": 995_000}, RejectReason.INVALID_ORDER),
        ({"expires_us": 5}, RejectReason.INVALID_ORDER),
        ({"qty": 60_000}, RejectReason.INSUFFICIENT_BALANCE),
    ],
)
def test_a_refused_amend_leaves_the_order_as_it_was(
    change: dict[str, int], reason: RejectReason
) -> None:
    desk = market_desk()
    order = desk.placed(BUY, LIMIT, 990_000).order
    rejected(desk.amend(order.order_id, **change), reason)
    assert desk.engine.accounts["alice"].orders == {order.order_id: order}
    assert desk.reserved() == order.reserved
    desk.ledger_holds()


def test_an_amend_may_reuse_its_own_reservation() -> None:
    desk = market_desk()
    order = desk.placed(BUY, LIMIT, 1_000_000, qty=5_000, leverage=1).order  # all 5000.00
    amended = desk.amend(order.order_id, price=999_000)
    assert isinstance(amended, OrderAmended) and desk.balance() == 500


@pytest.mark.parametrize("action", ["cancel", "amend"])
def test_another_users_order_is_not_found(action: str) -> None:
    desk = market_desk()
    order = desk.placed(BUY, LIMIT, 990_000).order
    if action == "cancel":
        event = desk.cancel(order.order_id, user="bob")
    else:
        event = desk.amend(order.order_id, user="bob", qty=1)
    rejected(event, RejectReason.ORDER_NOT_FOUND)
    assert "alice" not in event.message  # type: ignore[union-attr]
    assert desk.engine.accounts["alice"].orders == {order.order_id: order}


def test_an_ended_order_cannot_be_cancelled_or_placed_again() -> None:
    desk = market_desk()
    order = desk.placed(BUY, LIMIT, 990_000).order
    assert isinstance(desk.cancel(order.order_id), OrderCanceled)
    rejected(desk.cancel(order.order_id), RejectReason.ORDER_NOT_FOUND)
    again = CreateOrder(
        order.order_id, desk.now_us + 1, "alice", BTC, BUY, 1_000, 10,
        order_type=LIMIT, trigger_price=990_000,
    )  # fmt: skip
    [event] = desk.engine.apply(again)
    rejected(event, RejectReason.DUPLICATE_REQUEST)


def test_a_pending_order_id_is_a_duplicate_while_it_waits() -> None:
    desk = market_desk()
    order = desk.placed(BUY, LIMIT, 990_000).order
    [event] = desk.engine.apply(
        CreateOrder(order.order_id, desk.now_us + 1, "alice", BTC, BUY, 1_000, 10)
    )
    rejected(event, RejectReason.DUPLICATE_REQUEST)
    assert "pending" in event.message  # type: ignore[union-attr]


def test_an_account_holds_a_bounded_number_of_pending_orders() -> None:
    desk = Desk(EngineConfig(max_pending_per_account=3))
    desk.tick(BID, ASK)
    for _ in range(3):
        desk.placed(BUY, LIMIT, 900_000, qty=1)
    event = desk.pend(BUY, LIMIT, 900_000, qty=1)
    rejected(event, RejectReason.INVALID_ORDER)
    assert "at most 3" in event.message  # type: ignore[union-attr]


def test_a_position_filled_through_a_gap_closes_once_when_both_levels_are_crossed() -> None:
    desk = market_desk()
    desk.placed(BUY, STOP, 1_010_000, qty=1_000, leverage=100, take_profit=1_015_000)
    [filled] = desk.tick(1_029_990, 1_030_000)  # far above the take-profit
    assert isinstance(filled, OrderFilled)
    liquidation = filled.position.liquidation_price
    assert liquidation > 1_015_000  # 100x: the liquidation level is above the take-profit
    [closed] = desk.tick(1_016_000, 1_016_010)  # crosses both the TP and the stop book
    assert isinstance(closed, PositionClosed)
    assert closed.trade.reason is CloseReason.MARGIN_CALL
    desk.ledger_holds()


class CountingDict(dict[int, object]):
    """``pending_by_seq`` that counts membership checks (each is one order looked at)."""

    looked = 0

    def __contains__(self, key: object) -> bool:
        CountingDict.looked += 1
        return super().__contains__(key)


def test_a_tick_that_fills_nothing_looks_at_no_resting_order() -> None:
    desk = Desk(EngineConfig(max_pending_per_account=5_000))
    desk.tick(BID, ASK)
    for offset in range(1, 1_001):
        desk.placed(BUY, LIMIT, BID - 100 * offset, qty=1)
        desk.placed(SELL, STOP, BID - 100 * offset, qty=1)
        desk.placed(BUY, STOP, ASK + 100 * offset, qty=1)
        desk.placed(SELL, LIMIT, ASK + 100 * offset, qty=1)
    counting = CountingDict(desk.engine.pending_by_seq)
    desk.engine.pending_by_seq = counting  # type: ignore[assignment]
    CountingDict.looked = 0
    for step in range(50):
        assert desk.tick(BID - 50 + step, ASK - 50 + step) == []
    assert CountingDict.looked == 0  # four heap tops compared per tick, no order touched
    # Reaches the two nearest buy limits (ask <= price) and sell stops (bid <= price) only.
    events = desk.tick(BID - 250, BID - 240)
    assert [type(event) for event in events] == [OrderFilled] * 4
    assert CountingDict.looked == 4
