"""A brute-force model of the trading rules, written from docs/architecture.md, not from
the engine.

Everything here is exact ``fractions.Fraction`` arithmetic on the rules as the design
states them ("Money, prices, quantities" and "Orders and triggers"):

- margin = open price x qty / leverage, rounded up to the cent;
- PnL = (close - open) x qty x (+1 buy, -1 sell), rounded half-even to the cent, and the
  owner is credited margin + PnL, never less than 0;
- margin call when margin + (exact) PnL <= 5 % of the margin; buy TP when bid >= TP and SL
  when bid <= SL, sell TP when ask <= TP and SL when ask >= SL; a buy closes at the bid, a
  sell at the ask; when several hold on one tick, margin call > stop loss > take profit.

On every tick the model scans *all* open positions (no index, no precomputed levels).
It shares nothing with the engine but the vocabulary (sides, reasons, instruments).

Order ids (docs/order-ids.md): an order id is a version 7 UUID; one made before the
horizon (the latest create's time minus the window) or more than the lead after the
create's time is refused as ``invalid_order``, and one that ever opened a position is
refused as ``duplicate_request``. The model remembers every id it ever opened (no window).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import CloseReason, RejectReason, Side

MAINTENANCE_SHARE = Fraction(5, 100)
"""docs/architecture.md: margin call when remaining margin <= 5 % of the initial margin."""
BASIS_POINTS = 10_000
CENTS_PER_USD = 100


@dataclass(frozen=True)
class RefPosition:
    seq: int
    order_id: str
    user_id: str
    asset: str
    side: Side
    qty: int
    leverage: int
    open_price: int
    margin: int
    take_profit: int | None
    stop_loss: int | None


class Settlement(NamedTuple):
    """What closing one position did, as the model computes it."""

    seq: int
    order_id: str
    user_id: str
    close_price: int
    reason: CloseReason
    pnl: int
    balance: int
    """The owner's free balance right after this credit."""


class OrderRequest(NamedTuple):
    """A create-order as the model sees it (same fields as the engine's command)."""

    order_id: str
    ts_us: int
    user_id: str
    asset: str
    side: Side
    qty: int
    leverage: int
    take_profit: int | None
    stop_loss: int | None
    price: int | None
    slippage_bps: int | None


def usd_value(instrument: Instrument, price: int, qty: int) -> Fraction:
    """price x qty in US dollars, exactly."""
    return Fraction(price, 10**instrument.price_decimals) * Fraction(
        qty, 10**instrument.qty_decimals
    )


def exact_margin_cents(instrument: Instrument, price: int, qty: int, leverage: int) -> int:
    """Margin in cents, rounded up."""
    return math.ceil(usd_value(instrument, price, qty) * CENTS_PER_USD / leverage)


def exact_pnl_cents(instrument: Instrument, position: RefPosition, close_price: int) -> Fraction:
    """Unrounded PnL in cents."""
    sign = 1 if position.side is Side.BUY else -1
    move = Fraction(close_price - position.open_price, 10**instrument.price_decimals)
    return sign * move * Fraction(position.qty, 10**instrument.qty_decimals) * CENTS_PER_USD


def margin_call_price(
    instrument: Instrument, side: Side, open_price: int, qty: int, margin: int
) -> Fraction:
    """The exact price (in ticks) where margin + PnL == 5 % of margin.

    docs/architecture.md: open - 0.95 x margin / qty for a buy, open + 0.95 x margin / qty
    for a sell.
    Only used to aim ticks at the boundary; triggers are decided by ``trigger``.
    """
    cents_per_tick = Fraction(
        qty * CENTS_PER_USD, 10 ** (instrument.price_decimals + instrument.qty_decimals)
    )
    distance = (1 - MAINTENANCE_SHARE) * margin / cents_per_tick
    return open_price - distance if side is Side.BUY else open_price + distance


def settled_pnl_cents(instrument: Instrument, position: RefPosition, close_price: int) -> int:
    """The PnL actually credited: half-even to the cent, never taking the credit below 0."""
    rounded = round(exact_pnl_cents(instrument, position, close_price))  # half-even
    return max(position.margin + rounded, 0) - position.margin


def trigger(
    instrument: Instrument, position: RefPosition, bid: int, ask: int
) -> tuple[CloseReason, int] | None:
    """Whether the quote closes ``position``: (reason, close price), by the design's rules."""
    if position.side is Side.BUY:
        price = bid
        hits_tp = position.take_profit is not None and bid >= position.take_profit
        hits_sl = position.stop_loss is not None and bid <= position.stop_loss
    else:
        price = ask
        hits_tp = position.take_profit is not None and ask <= position.take_profit
        hits_sl = position.stop_loss is not None and ask >= position.stop_loss
    remaining = position.margin + exact_pnl_cents(instrument, position, price)
    if remaining <= MAINTENANCE_SHARE * position.margin:
        return CloseReason.MARGIN_CALL, price
    if hits_sl:
        return CloseReason.STOP_LOSS, price
    if hits_tp:
        return CloseReason.TAKE_PROFIT, price
    return None


@dataclass
class Reference:
    instruments: Mapping[str, Instrument]
    starting_balance: int
    max_price_age_us: int
    balances: dict[str, int] = field(default_factory=dict)
    positions: dict[int, RefPosition] = field(default_factory=dict)
    """Open positions by the engine's sequence number."""
    quotes: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """asset -> (bid, ask, ts_us) of the last valid tick."""
    house: int = 0
    deposits: int = 0
    order_id_window_us: int = 25 * 3600 * 1_000_000
    order_id_lead_us: int = 5 * 60 * 1_000_000
    horizon_ms: int = 0
    """Ids made before this are refused: max over creates of (time - window), in ms."""
    ever_opened: set[str] = field(default_factory=set)

    # -- accounts ----------------------------------------------------------------------

    def register(self, user_id: str) -> tuple[bool, int]:
        """(created, balance) for a registration."""
        if user_id in self.balances:
            return False, self.balances[user_id]
        self.balances[user_id] = self.starting_balance
        self.deposits += self.starting_balance
        return True, self.starting_balance

    def locked(self, user_id: str) -> int:
        return sum(p.margin for p in self.positions.values() if p.user_id == user_id)

    def open_order(self, user_id: str, order_id: str) -> RefPosition | None:
        for position in self.positions.values():
            if position.user_id == user_id and position.order_id == order_id:
                return position
        return None

    # -- prices ------------------------------------------------------------------------

    def quote_problem(self, asset: str, ts_us: int) -> RejectReason | None:
        quote = self.quotes.get(asset)
        if quote is None:
            return RejectReason.NO_PRICE
        if ts_us - quote[2] > self.max_price_age_us:
            return RejectReason.STALE_PRICE
        return None

    def tick(self, asset: str, bid: int, ask: int, ts_us: int) -> list[Settlement] | None:
        """Apply a quote; None if the quote is invalid, else every close it causes."""
        if asset not in self.instruments or bid <= 0 or ask < bid:
            return None
        self.quotes[asset] = (bid, ask, ts_us)
        instrument = self.instruments[asset]
        fired: list[tuple[RefPosition, CloseReason, int]] = []
        for position in self.positions.values():  # brute force: every open position
            if position.asset != asset:
                continue
            hit = trigger(instrument, position, bid, ask)
            if hit is not None:
                fired.append((position, *hit))
        fired.sort(key=lambda item: item[0].seq)
        return [self.settle(position, price, reason) for position, reason, price in fired]

    # -- orders ------------------------------------------------------------------------

    def note_create(self, ts_us: int) -> None:
        """Every create moves the horizon (before it is judged)."""
        now_ms = ts_us // 1000
        self.horizon_ms = max(self.horizon_ms, now_ms - self.order_id_window_us // 1000)

    def bad_order_id(self, order: OrderRequest) -> bool:
        try:
            parsed = uuid.UUID(order.order_id)
        except ValueError:
            return True
        if parsed.version != 7 or str(parsed) != order.order_id:
            return True
        made_ms = parsed.int >> 80
        now_ms = order.ts_us // 1000
        return made_ms < self.horizon_ms or made_ms > now_ms + self.order_id_lead_us // 1000

    def create_problems(self, order: OrderRequest) -> set[RejectReason]:
        """Every reason the design gives to refuse this order (empty: it must open)."""
        problems: set[RejectReason] = set()
        if order.user_id not in self.balances:
            problems.add(RejectReason.UNKNOWN_USER)
        instrument = self.instruments.get(order.asset)
        if instrument is None or _bad_shape(order, instrument) or self.bad_order_id(order):
            problems.add(RejectReason.INVALID_ORDER)
        if order.order_id in self.ever_opened:
            problems.add(RejectReason.DUPLICATE_REQUEST)
        if instrument is None:
            return problems
        quote_problem = self.quote_problem(order.asset, order.ts_us)
        if quote_problem is not None:
            problems.add(quote_problem)
        if order.asset not in self.quotes:
            return problems
        bid, ask, _ = self.quotes[order.asset]
        price = ask if order.side is Side.BUY else bid
        if _wrong_side(order, price):
            problems.add(RejectReason.INVALID_ORDER)
        if _slipped(order, price):
            problems.add(RejectReason.SLIPPAGE_EXCEEDED)
        if order.user_id in self.balances and order.leverage >= 1 and order.qty > 0:
            margin = exact_margin_cents(instrument, price, order.qty, order.leverage)
            if margin > self.balances[order.user_id]:
                problems.add(RejectReason.INSUFFICIENT_BALANCE)
        return problems

    def open(self, order: OrderRequest, seq: int) -> RefPosition:
        """Open an order the model agrees must open; ``seq`` is the engine's number."""
        instrument = self.instruments[order.asset]
        bid, ask, _ = self.quotes[order.asset]
        price = ask if order.side is Side.BUY else bid
        margin = exact_margin_cents(instrument, price, order.qty, order.leverage)
        position = RefPosition(
            seq,
            order.order_id,
            order.user_id,
            order.asset,
            order.side,
            order.qty,
            order.leverage,
            price,
            margin,
            order.take_profit,
            order.stop_loss,
        )
        assert seq not in self.positions
        assert order.order_id not in self.ever_opened
        self.ever_opened.add(order.order_id)
        self.positions[seq] = position
        self.balances[order.user_id] -= margin
        return position

    def close_by_user(self, user_id: str, order_id: str, ts_us: int) -> Settlement | RejectReason:
        position = self.open_order(user_id, order_id)
        if position is None:
            return RejectReason.ORDER_NOT_FOUND
        problem = self.quote_problem(position.asset, ts_us)
        if problem is not None:
            return problem
        bid, ask, _ = self.quotes[position.asset]
        price = bid if position.side is Side.BUY else ask
        return self.settle(position, price, CloseReason.USER)

    def settle(self, position: RefPosition, price: int, reason: CloseReason) -> Settlement:
        pnl = settled_pnl_cents(self.instruments[position.asset], position, price)
        credit = position.margin + pnl
        assert credit >= 0
        del self.positions[position.seq]
        self.balances[position.user_id] += credit
        self.house += position.margin - credit
        return Settlement(
            position.seq,
            position.order_id,
            position.user_id,
            price,
            reason,
            pnl,
            self.balances[position.user_id],
        )


def _bad_shape(order: OrderRequest, instrument: Instrument) -> bool:
    if not 1 <= order.leverage <= instrument.max_leverage or order.qty <= 0:
        return True
    if any(level is not None and level <= 0 for level in (order.take_profit, order.stop_loss)):
        return True
    if (order.price is None) != (order.slippage_bps is None):
        return True
    if order.price is not None and order.price <= 0:
        return True
    return order.slippage_bps is not None and not 0 <= order.slippage_bps <= BASIS_POINTS


def _wrong_side(order: OrderRequest, open_price: int) -> bool:
    """TP and SL must lie strictly on the profitable / losing side of the open price."""
    tp, sl = order.take_profit, order.stop_loss
    if order.side is Side.BUY:
        return (tp is not None and tp <= open_price) or (sl is not None and sl >= open_price)
    return (tp is not None and tp >= open_price) or (sl is not None and sl <= open_price)


def _slipped(order: OrderRequest, open_price: int) -> bool:
    """Execution price worse than the seen price by more than the tolerance."""
    if order.price is None or order.slippage_bps is None:
        return False
    tolerance = Fraction(order.slippage_bps, BASIS_POINTS)
    if order.side is Side.BUY:
        return open_price > order.price * (1 + tolerance)
    return open_price < order.price * (1 - tolerance)


# -- pending orders (docs/pending-orders.md) ----------------------------------------------
#
# A limit or stop order reserves the margin at its own price (rounded up to the cent) and
# waits on the right side of the market: buy limit below the ask, buy stop above it, sell
# limit above the bid, sell stop below it. On a tick, after the closes, every waiting order
# of the asset is scanned: a buy limit fills when ask <= its price, a buy stop when
# ask >= it, a sell limit when bid >= it, a sell stop when bid <= it; a buy at the ask, a
# sell at the bid; in the order (price, placement). The margin at the fill price comes out
# of the reservation plus the free balance, or the order ends unfilled
# (insufficient_balance). An order expires on the first input at or after its expiry.


@dataclass(frozen=True)
class RefPending:
    order_id: str
    user_id: str
    asset: str
    side: Side
    order_type: str
    """"limit" or "stop"."""
    qty: int
    leverage: int
    price: int
    take_profit: int | None
    stop_loss: int | None
    reserved: int
    expires_us: int | None
    placed: int
    """The model's own placement counter (placing or amending takes the next)."""


class PendingRequest(NamedTuple):
    order_id: str
    ts_us: int
    user_id: str
    asset: str
    side: Side
    order_type: str
    qty: int
    leverage: int
    price: int | None
    take_profit: int | None
    stop_loss: int | None
    expires_us: int | None


class FillOutcome(NamedTuple):
    order: RefPending
    filled: bool
    """False: ended for balance (the margin at ``price`` was not covered)."""
    price: int
    margin: int
    balance: int
    """The owner's free balance right after this fill (or release)."""


def fires(order: RefPending, bid: int, ask: int) -> bool:
    if order.side is Side.BUY:
        return ask <= order.price if order.order_type == "limit" else ask >= order.price
    return bid >= order.price if order.order_type == "limit" else bid <= order.price


def waiting(side: Side, order_type: str, price: int, bid: int, ask: int) -> bool:
    if side is Side.BUY:
        return price < ask if order_type == "limit" else price > ask
    return price > bid if order_type == "limit" else price < bid


@dataclass
class PendingReference:
    """Pending orders on top of a ``Reference`` (the same balances and positions)."""

    base: Reference
    max_per_account: int = 500
    orders: dict[str, RefPending] = field(default_factory=dict)
    """By order id."""
    ever_placed: set[str] = field(default_factory=set)
    counter: int = 0

    def reserved(self, user_id: str) -> int:
        return sum(o.reserved for o in self.orders.values() if o.user_id == user_id)

    def used(self, order_id: str) -> bool:
        return order_id in self.base.ever_opened or order_id in self.ever_placed

    def place_problems(self, order: PendingRequest, free: int | None = None) -> set[RejectReason]:
        """Every reason to refuse placing (or, with ``free``, amending to) this order."""
        base = self.base
        problems: set[RejectReason] = set()
        if order.user_id not in base.balances:
            return {RejectReason.UNKNOWN_USER}
        instrument = base.instruments.get(order.asset)
        if instrument is None or _bad_pending_shape(order, instrument):
            problems.add(RejectReason.INVALID_ORDER)
        if free is None:
            problems |= self._new_id_problems(order)
        if order.expires_us is not None and order.expires_us <= order.ts_us:
            problems.add(RejectReason.INVALID_ORDER)
        if instrument is None or order.price is None or order.price <= 0:
            return problems | {RejectReason.INVALID_ORDER}
        quote_problem = base.quote_problem(order.asset, order.ts_us)
        if quote_problem is not None:
            problems.add(quote_problem)
        if order.asset in base.quotes:
            bid, ask, _ = base.quotes[order.asset]
            if not waiting(order.side, order.order_type, order.price, bid, ask):
                problems.add(RejectReason.INVALID_ORDER)
        request = OrderRequest(order.order_id, order.ts_us, order.user_id, order.asset,
                               order.side, order.qty, order.leverage, order.take_profit,
                               order.stop_loss, None, None)  # fmt: skip
        if _wrong_side(request, order.price):
            problems.add(RejectReason.INVALID_ORDER)
        if order.qty > 0 and order.leverage >= 1:
            need = exact_margin_cents(instrument, order.price, order.qty, order.leverage)
            available = base.balances[order.user_id] if free is None else free
            if need > available:
                problems.add(RejectReason.INSUFFICIENT_BALANCE)
        return problems

    def _new_id_problems(self, order: PendingRequest) -> set[RejectReason]:
        """A placed (not amended) order: a fresh valid id, and room in the account."""
        problems: set[RejectReason] = set()
        if self.used(order.order_id):
            problems.add(RejectReason.DUPLICATE_REQUEST)
        request = OrderRequest(order.order_id, order.ts_us, order.user_id, order.asset,
                               order.side, 1, 1, None, None, None, None)  # fmt: skip
        if self.base.bad_order_id(request):
            problems.add(RejectReason.INVALID_ORDER)
        count = sum(1 for o in self.orders.values() if o.user_id == order.user_id)
        if count >= self.max_per_account:
            problems.add(RejectReason.INVALID_ORDER)
        return problems

    def place(self, order: PendingRequest) -> RefPending:
        assert order.price is not None
        instrument = self.base.instruments[order.asset]
        reserve = exact_margin_cents(instrument, order.price, order.qty, order.leverage)
        self.counter += 1
        resting = RefPending(
            order.order_id, order.user_id, order.asset, order.side, order.order_type,
            order.qty, order.leverage, order.price, order.take_profit, order.stop_loss,
            reserve, order.expires_us, self.counter,
        )  # fmt: skip
        self.base.balances[order.user_id] -= reserve
        self.orders[order.order_id] = resting
        self.ever_placed.add(order.order_id)
        return resting

    def own(self, user_id: str, order_id: str) -> RefPending | None:
        order = self.orders.get(order_id)
        return order if order is not None and order.user_id == user_id else None

    def release(self, order: RefPending) -> None:
        del self.orders[order.order_id]
        self.base.balances[order.user_id] += order.reserved

    def amend_problems(self, order: RefPending, wanted: PendingRequest) -> set[RejectReason]:
        free = self.base.balances[order.user_id] + order.reserved
        return self.place_problems(wanted, free)

    def amend(self, order: RefPending, wanted: PendingRequest) -> RefPending:
        self.release(order)
        return self.place(wanted)

    def expire(self, now_us: int) -> list[RefPending]:
        due = [
            o for o in self.orders.values() if o.expires_us is not None and o.expires_us <= now_us
        ]
        due.sort(key=lambda o: (o.expires_us, o.placed))
        for order in due:
            self.release(order)
        return due

    def fill(self, asset: str, bid: int, ask: int) -> list[FillOutcome]:
        """After the tick's closes: every order of ``asset`` the quote reaches, brute force."""
        base = self.base
        hit = [o for o in self.orders.values() if o.asset == asset and fires(o, bid, ask)]
        hit.sort(key=lambda o: (o.price, o.placed))
        outcomes = []
        for order in hit:
            self.release(order)
            price = ask if order.side is Side.BUY else bid
            margin = exact_margin_cents(base.instruments[asset], price, order.qty, order.leverage)
            filled = margin <= base.balances[order.user_id]
            if filled:
                base.balances[order.user_id] -= margin
                base.ever_opened.add(order.order_id)
            outcomes.append(FillOutcome(order, filled, price, margin, base.balances[order.user_id]))
        return outcomes

    def opened(self, outcome: FillOutcome, seq: int) -> RefPosition:
        """Record the position a fill opened (``seq``: the engine's number, for close order)."""
        order = outcome.order
        position = RefPosition(
            seq, order.order_id, order.user_id, order.asset, order.side, order.qty,
            order.leverage, outcome.price, outcome.margin, order.take_profit, order.stop_loss,
        )  # fmt: skip
        self.base.positions[seq] = position
        return position


def _bad_pending_shape(order: PendingRequest, instrument: Instrument) -> bool:
    if not 1 <= order.leverage <= instrument.max_leverage or order.qty <= 0:
        return True
    return any(level is not None and level <= 0 for level in (order.take_profit, order.stop_loss))
