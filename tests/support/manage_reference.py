"""A brute-force model of managing open positions (docs/managing-positions.md), written
from the design, not from the engine: exact ``Fraction`` arithmetic, one running extreme
per trailing position, and on every tick *every* open position of the asset is looked at
(its extreme updated, each of its levels recomputed and compared).

Rules modelled: market opens (margin rounded up, commission on the notional rounded up and
paid from the balance), TP/SL/trailing/margin-call closes (margin call > stop-loss >
trailing stop > take-profit; ties closed in the order positions were opened or last
changed), modify (set or clear; a level the closing price has reached is refused),
partial close (the remainder is the position of the remaining qty; freed margin + PnL
half-even, never below 0, minus the close commission; its request id used once),
close-all (in open order, refused whole on a missing or stale price), close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import CloseReason, RejectReason, Side

MAINTENANCE_SHARE = Fraction(5, 100)
BASIS_POINTS = 10_000


def usd_cents(instrument: Instrument, price: int, qty: int) -> Fraction:
    """price x qty in cents, exactly."""
    return Fraction(price * qty * 100, 10 ** (instrument.price_decimals + instrument.qty_decimals))


def margin_cents(instrument: Instrument, price: int, qty: int, leverage: int) -> int:
    return math.ceil(usd_cents(instrument, price, qty) / leverage)


def commission_cents(instrument: Instrument, price: int, qty: int) -> int:
    return math.ceil(usd_cents(instrument, price, qty) * instrument.commission_bps / BASIS_POINTS)


@dataclass(frozen=True)
class ModelPosition:
    order: int
    """The model's own counter: taken at open, modify and partial close."""
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
    trailing: int | None
    extreme: int | None
    """Highest bid (buy) / lowest ask (sell) since the trailing stop was set."""
    commission: int

    def trailing_level(self) -> int | None:
        if self.trailing is None or self.extreme is None:
            return None
        if self.side is Side.BUY:
            return self.extreme - self.trailing
        return self.extreme + self.trailing


@dataclass(frozen=True)
class ModelClose:
    order_id: str
    trade_id: str
    close_price: int
    reason: CloseReason
    qty: int
    pnl: int
    commission: int
    balance: int


@dataclass
class ManageModel:
    instruments: dict[str, Instrument]
    starting_balance: int
    max_price_age_us: int
    balances: dict[str, int] = field(default_factory=dict)
    positions: dict[str, ModelPosition] = field(default_factory=dict)
    quotes: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    used_ids: set[str] = field(default_factory=set)
    house: int = 0
    deposits: int = 0
    counter: int = 0

    def register(self, user_id: str) -> None:
        if user_id not in self.balances:
            self.balances[user_id] = self.starting_balance
            self.deposits += self.starting_balance

    def locked(self, user_id: str) -> int:
        return sum(p.margin for p in self.positions.values() if p.user_id == user_id)

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def quote_problem(self, asset: str, ts_us: int) -> RejectReason | None:
        quote = self.quotes.get(asset)
        if quote is None:
            return RejectReason.NO_PRICE
        if ts_us - quote[2] > self.max_price_age_us:
            return RejectReason.STALE_PRICE
        return None

    def close_price(self, position: ModelPosition) -> int:
        bid, ask, _ = self.quotes[position.asset]
        return bid if position.side is Side.BUY else ask

    # -- commands -----------------------------------------------------------------------

    def create(
        self,
        order_id: str,
        ts_us: int,
        user_id: str,
        asset: str,
        side: Side,
        qty: int,
        leverage: int,
        levels: tuple[int | None, int | None, int | None],
    ) -> ModelPosition | RejectReason:
        """A market order with (take-profit, stop-loss, trailing distance); the steps
        only send well-formed ones with fresh ids."""
        take_profit, stop_loss, trailing = levels
        problem = self.quote_problem(asset, ts_us)
        if problem is not None:
            return problem
        instrument = self.instruments[asset]
        bid, ask, _ = self.quotes[asset]
        price = ask if side is Side.BUY else bid
        wrong = (
            (take_profit is not None and take_profit <= price)
            or (stop_loss is not None and stop_loss >= price)
            if side is Side.BUY
            else (take_profit is not None and take_profit >= price)
            or (stop_loss is not None and stop_loss <= price)
        )
        if wrong:
            return RejectReason.INVALID_ORDER
        margin = margin_cents(instrument, price, qty, leverage)
        fee = commission_cents(instrument, price, qty)
        if margin + fee > self.balances[user_id]:
            return RejectReason.INSUFFICIENT_BALANCE
        self.balances[user_id] -= margin + fee
        self.house += fee
        self.used_ids.add(order_id)
        extreme = None if trailing is None else (bid if side is Side.BUY else ask)
        position = ModelPosition(
            self._next(), order_id, user_id, asset, side, qty, leverage, price, margin,
            take_profit, stop_loss, trailing, extreme, fee,
        )  # fmt: skip
        self.positions[order_id] = position
        return position

    def tick(self, asset: str, bid: int, ask: int, ts_us: int) -> list[ModelClose]:
        self.quotes[asset] = (bid, ask, ts_us)
        instrument = self.instruments[asset]
        fired: list[tuple[ModelPosition, CloseReason]] = []
        for order_id, before in list(self.positions.items()):  # brute force: every one
            if before.asset != asset:
                continue
            position = before
            if before.extreme is not None:  # the running extreme moves first
                moved = (
                    max(before.extreme, bid)
                    if before.side is Side.BUY
                    else min(before.extreme, ask)
                )
                position = self.positions[order_id] = replace(before, extreme=moved)
            reason = self._trigger(instrument, position, bid, ask)
            if reason is not None:
                fired.append((position, reason))
        fired.sort(key=lambda item: item[0].order)
        return [
            self._settle(position, self.close_price(position), reason, position.order_id)
            for position, reason in fired
        ]

    def _trigger(
        self, instrument: Instrument, position: ModelPosition, bid: int, ask: int
    ) -> CloseReason | None:
        buy = position.side is Side.BUY
        price = bid if buy else ask
        sign = 1 if buy else -1
        move = Fraction(sign * (price - position.open_price) * position.qty * 100)
        pnl = move / 10 ** (instrument.price_decimals + instrument.qty_decimals)
        if position.margin + pnl <= MAINTENANCE_SHARE * position.margin:
            return CloseReason.MARGIN_CALL
        sl, tp, level = position.stop_loss, position.take_profit, position.trailing_level()
        if sl is not None and (price <= sl if buy else price >= sl):
            return CloseReason.STOP_LOSS
        if level is not None and (price <= level if buy else price >= level):
            return CloseReason.TRAILING_STOP
        if tp is not None and (price >= tp if buy else price <= tp):
            return CloseReason.TAKE_PROFIT
        return None

    def _settle(
        self,
        position: ModelPosition,
        price: int,
        reason: CloseReason,
        trade_id: str,
        *,
        whole: bool = True,
    ) -> ModelClose:
        instrument = self.instruments[position.asset]
        sign = 1 if position.side is Side.BUY else -1
        exact = usd_cents(instrument, sign * (price - position.open_price), position.qty)
        pnl = round(exact)  # half-even
        paid = max(position.margin + pnl, 0)
        fee = min(commission_cents(instrument, price, position.qty), paid)
        credit = paid - fee
        self.balances[position.user_id] += credit
        self.house += position.margin - credit
        if whole:
            del self.positions[position.order_id]
        return ModelClose(
            position.order_id, trade_id, price, reason, position.qty, paid - position.margin,
            position.commission + fee, self.balances[position.user_id],
        )  # fmt: skip

    def close(self, user_id: str, order_id: str, ts_us: int) -> ModelClose | RejectReason:
        position = self.positions.get(order_id)
        if position is None or position.user_id != user_id:
            return RejectReason.ORDER_NOT_FOUND
        problem = self.quote_problem(position.asset, ts_us)
        if problem is not None:
            return problem
        return self._settle(position, self.close_price(position), CloseReason.USER, order_id)

    def close_part(
        self, request_id: str, user_id: str, order_id: str, qty: int, ts_us: int
    ) -> ModelClose | RejectReason:
        position = self.positions.get(order_id)
        if position is None or position.user_id != user_id:
            return RejectReason.ORDER_NOT_FOUND
        problem = self.quote_problem(position.asset, ts_us)
        if problem is not None:
            return problem
        if qty <= 0 or qty >= position.qty:
            return RejectReason.INVALID_ORDER
        if request_id in self.used_ids:
            return RejectReason.DUPLICATE_REQUEST
        self.used_ids.add(request_id)
        instrument = self.instruments[position.asset]
        left = position.qty - qty
        margin = margin_cents(instrument, position.open_price, left, position.leverage)
        kept = min(commission_cents(instrument, position.open_price, left), position.commission)
        part = replace(
            position,
            qty=qty,
            margin=position.margin - margin,
            commission=position.commission - kept,
        )
        self.positions[order_id] = replace(
            position, order=self._next(), qty=left, margin=margin, commission=kept
        )
        return self._settle(
            part, self.close_price(position), CloseReason.USER, request_id, whole=False
        )

    def modify(
        self,
        user_id: str,
        order_id: str,
        ts_us: int,
        given: dict[str, int | None],
    ) -> ModelPosition | RejectReason:
        position = self.positions.get(order_id)
        if position is None or position.user_id != user_id:
            return RejectReason.ORDER_NOT_FOUND
        if not given:
            return RejectReason.INVALID_ORDER
        problem = self.quote_problem(position.asset, ts_us)
        if problem is not None:
            return problem
        tp = given.get("take_profit", position.take_profit)
        sl = given.get("stop_loss", position.stop_loss)
        trailing = given.get("trailing_stop", position.trailing)
        if any(value is not None and value <= 0 for value in (tp, sl, trailing)):
            return RejectReason.INVALID_ORDER
        price = self.close_price(position)
        buy = position.side is Side.BUY
        if tp is not None and (tp <= price if buy else tp >= price):
            return RejectReason.INVALID_ORDER
        if sl is not None and (sl >= price if buy else sl <= price):
            return RejectReason.INVALID_ORDER
        extreme = position.extreme
        if "trailing_stop" in given:  # set anew: trails from the current price
            extreme = None if trailing is None else price
        modified = replace(
            position,
            order=self._next(),
            take_profit=tp,
            stop_loss=sl,
            trailing=trailing,
            extreme=extreme,
        )
        self.positions[order_id] = modified
        return modified

    def close_all(
        self, user_id: str, asset: str | None, ts_us: int
    ) -> list[ModelClose] | RejectReason:
        if asset is not None and asset not in self.instruments:
            return RejectReason.INVALID_ORDER
        mine = sorted(
            (
                p
                for p in self.positions.values()
                if p.user_id == user_id and asset in (None, p.asset)
            ),
            key=lambda p: p.order,
        )
        for position in mine:
            problem = self.quote_problem(position.asset, ts_us)
            if problem is not None:
                return problem
        return [self._settle(p, self.close_price(p), CloseReason.USER, p.order_id) for p in mine]
