"""Open positions and the exact formulas for margin, liquidation price and PnL.

Units: prices are integer ticks (``10**-price_decimals`` USD), quantities integer lots
(``10**-qty_decimals``), money integer cents. ``price * qty`` is therefore in units of
``10**-(price_decimals + qty_decimals)`` USD; ``notional_unit(i)`` converts that to cents.
"""

from __future__ import annotations

from typing import NamedTuple

from tradepro.domain.fixed import POW10, USD_DECIMALS, ceil_div, div_round_half_even
from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import CloseReason, Side

BASIS_POINTS = 10_000
MAINTENANCE_MARGIN_BPS = 500
"""A position is margin-called when margin + PnL <= 5 % of its initial margin."""


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


def required_margin(instrument: Instrument, price: int, qty: int, leverage: int) -> int:
    """Margin in cents = price x qty / leverage, rounded up to the cent."""
    exponent = instrument.price_decimals + instrument.qty_decimals - USD_DECIMALS
    if exponent >= 0:
        return ceil_div(price * qty, leverage * POW10[exponent])
    return ceil_div(price * qty * POW10[-exponent], leverage)


def liquidation_price(
    instrument: Instrument,
    side: Side,
    open_price: int,
    qty: int,
    margin: int,
    *,
    maintenance_bps: int = MAINTENANCE_MARGIN_BPS,
) -> int:
    """The tick price at which margin + PnL <= maintenance share of the margin.

    Buy: the highest tick with open - bid >= 0.95 x margin / qty (so bid <= it triggers).
    Sell: the lowest tick with ask - open >= 0.95 x margin / qty. Computed exactly; a buy's
    level is floored at 0, where it can never trigger (every price is positive).
    """
    # loss per tick of price move, in cents: qty / 10**(pd+qd-2); compare scaled up.
    scale = POW10[instrument.price_decimals + instrument.qty_decimals]
    loss_limit = (BASIS_POINTS - maintenance_bps) * margin * scale  # x 10**-2 x 10**-4
    ticks = ceil_div(loss_limit, qty * POW10[USD_DECIMALS + 4])
    if side is Side.BUY:
        return max(open_price - ticks, 0)
    return open_price + ticks


def pnl_cents(instrument: Instrument, position: Position, close_price: int) -> int:
    """PnL = (close - open) x qty x (+1 buy, -1 sell), rounded half-even to the cent."""
    move = close_price - position.open_price
    if position.side is Side.SELL:
        move = -move
    exponent = instrument.price_decimals + instrument.qty_decimals - USD_DECIMALS
    if exponent >= 0:
        return div_round_half_even(move * position.qty, POW10[exponent])
    return move * position.qty * POW10[-exponent]


def close_price_for(side: Side, bid: int, ask: int) -> int:
    """A buy is valued and closed at the bid, a sell at the ask."""
    return bid if side is Side.BUY else ask


def stop_level(position: Position) -> int:
    """The level of the stop book: whichever of stop-loss and liquidation comes first."""
    stop = position.stop_loss
    liquidation = position.liquidation_price
    if stop is None:
        return liquidation
    if position.side is Side.BUY:
        return max(stop, liquidation)
    return min(stop, liquidation)


def trigger_reason(position: Position, price: int) -> CloseReason:
    """Why a triggered position closes at ``price``; a margin call outranks a stop-loss."""
    if position.side is Side.BUY:
        if price <= position.liquidation_price:
            return CloseReason.MARGIN_CALL
        if position.stop_loss is not None and price <= position.stop_loss:
            return CloseReason.STOP_LOSS
        return CloseReason.TAKE_PROFIT
    if price >= position.liquidation_price:
        return CloseReason.MARGIN_CALL
    if position.stop_loss is not None and price >= position.stop_loss:
        return CloseReason.STOP_LOSS
    return CloseReason.TAKE_PROFIT
