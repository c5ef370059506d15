"""Open positions and the exact formulas for margin, liquidation price and PnL.

Units: prices are integer ticks (``10**-price_decimals`` USD), quantities integer lots
(``10**-qty_decimals``), money integer cents. ``price * qty`` is therefore in units of
``10**-(price_decimals + qty_decimals)`` USD; ``notional_unit(i)`` converts that to cents.
"""

from __future__ import annotations

from typing import NamedTuple

from tradepro.domain.fixed import POW10, USD_DECIMALS, div_round_half_even
from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import CloseReason, Side

BASIS_POINTS = 10_000
MAINTENANCE_MARGIN_BPS = 500
"""A position is margin-called when margin + PnL <= 5 % of its initial margin."""
_BUY = Side.BUY  # a module global: enum attribute lookups are slow on the hot path


class Position(NamedTuple):
    """An open position. Immutable: opening and closing replace, never mutate."""

    seq: int
    """Engine-wide open sequence number: orders simultaneous closes deterministically."""
    order_id: str
    user_id: str
    asset: str
    side: Side
    qty: int
    leverage: int
    open_price: int
    margin: int
    """Cents moved from the balance to locked margin at open (rounded up)."""
    take_profit: int | None
    stop_loss: int | None
    liquidation_price: int
    """Buy: margin call when bid <= this. Sell: when ask >= this. Fixed at open."""
    slippage_bps: int | None
    """The tolerance the user asked for, in basis points, if any."""
    opened_us: int
    trailing_stop: int | None = None
    """The trailing stop's distance in ticks (its running extreme lives in the engine's
    trailing books), if any."""
    commission: int = 0
    """Cents of commission paid at open and not yet attributed to a closed trade."""


class Contract:
    """One instrument's formulas, with their scale constants computed once.

    Units: price x qty is in ``10**-(price_decimals + qty_decimals)`` USD; money in cents.
    """

    __slots__ = ("_liquidation_denominator", "_liquidation_numerator", "_scale", "instrument")

    def __init__(
        self, instrument: Instrument, maintenance_bps: int = MAINTENANCE_MARGIN_BPS
    ) -> None:
        self.instrument = instrument
        exponent = instrument.price_decimals + instrument.qty_decimals - USD_DECIMALS
        # price x qty / _scale is cents; instruments with fewer than 2 decimals in all
        # scale up instead (so _scale may be a fraction 1/10**k, kept as a negative power).
        self._scale = exponent
        self._liquidation_numerator = (BASIS_POINTS - maintenance_bps) * POW10[
            instrument.price_decimals + instrument.qty_decimals
        ]
        self._liquidation_denominator = POW10[USD_DECIMALS + 4]  # cents x basis points

    def margin(self, price: int, qty: int, leverage: int) -> int:
        """Margin in cents = price x qty / leverage, rounded up to the cent."""
        exponent = self._scale
        if exponent >= 0:
            return -(-(price * qty) // (leverage * POW10[exponent]))
        return -(-(price * qty * POW10[-exponent]) // leverage)

    def liquidation_price(self, side: Side, open_price: int, qty: int, margin: int) -> int:
        """The tick price at which margin + PnL <= the maintenance share of the margin.

        Buy: the highest tick with open - bid >= 0.95 x margin / qty (bid <= it triggers).
        Sell: the lowest tick with ask - open >= 0.95 x margin / qty. Exact; a buy's level
        is floored at 0, where it can never trigger (every price is positive).
        """
        ticks = -(-(self._liquidation_numerator * margin) // (qty * self._liquidation_denominator))
        if side is _BUY:
            return max(open_price - ticks, 0)
        return open_price + ticks

    def pnl(self, position: Position, close_price: int) -> int:
        """PnL = (close - open) x qty x (+1 buy, -1 sell), rounded half-even to the cent."""
        move = close_price - position.open_price
        if position.side is not _BUY:
            move = -move
        exponent = self._scale
        if exponent >= 0:
            return div_round_half_even(move * position.qty, POW10[exponent])
        return move * position.qty * POW10[-exponent]

    def commission(self, price: int, qty: int) -> int:
        """Commission in cents = price x qty x ``commission_bps`` / 10,000, rounded up to
        the cent (0 for an instrument without commission)."""
        bps = self.instrument.commission_bps
        if bps == 0:
            return 0
        exponent = self._scale
        if exponent >= 0:
            return -(-(price * qty * bps) // (BASIS_POINTS * POW10[exponent]))
        return -(-(price * qty * bps * POW10[-exponent]) // BASIS_POINTS)

    def cents(self, amount: int) -> int:
        """``amount`` in price x qty units (a sum of PnLs before rounding) in cents, rounded
        half-even once: how an account's unrealized PnL per asset is rounded."""
        exponent = self._scale
        if exponent >= 0:
            return div_round_half_even(amount, POW10[exponent])
        return amount * POW10[-exponent]


def close_price_for(side: Side, bid: int, ask: int) -> int:
    """A buy is valued and closed at the bid, a sell at the ask."""
    return bid if side is _BUY else ask


def stop_level(position: Position) -> int:
    """The level of the stop book: whichever of stop-loss and liquidation comes first."""
    stop = position.stop_loss
    liquidation = position.liquidation_price
    if stop is None:
        return liquidation
    if position.side is _BUY:
        return max(stop, liquidation)
    return min(stop, liquidation)


def trigger_reason(position: Position, price: int, trailing: int | None = None) -> CloseReason:
    """Why a triggered position closes at ``price`` (``trailing``: its trailing stop's
    level, if any): margin call, then stop-loss, then trailing stop, then take-profit."""
    if position.side is _BUY:
        if price <= position.liquidation_price:
            return CloseReason.MARGIN_CALL
        if position.stop_loss is not None and price <= position.stop_loss:
            return CloseReason.STOP_LOSS
        if trailing is not None and price <= trailing:
            return CloseReason.TRAILING_STOP
        return CloseReason.TAKE_PROFIT
    if price >= position.liquidation_price:
        return CloseReason.MARGIN_CALL
    if position.stop_loss is not None and price >= position.stop_loss:
        return CloseReason.STOP_LOSS
    if trailing is not None and price >= trailing:
        return CloseReason.TRAILING_STOP
    return CloseReason.TAKE_PROFIT
