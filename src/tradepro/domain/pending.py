"""Pending orders: limit and stop entries that wait for their price, and their rules.

A pending order reserves margin at its own price (rounded up to the cent) when placed and
fills at the triggering tick's price: a buy at the ask, a sell at the bid.

=========  ==============================  ===================
order      waits while (at placement)      fills when
=========  ==============================  ===================
buy limit  limit price < ask               ask <= limit price
buy stop   stop price > ask                ask >= stop price
sell limit limit price > bid               bid >= limit price
sell stop  stop price < bid                bid <= stop price
=========  ==============================  ===================
"""

from __future__ import annotations

from typing import NamedTuple

from tradepro.domain.orders import OrderType, Side

_BUY = Side.BUY
_LIMIT = OrderType.LIMIT


class PendingOrder(NamedTuple):
    """A resting order. Immutable: amending replaces it (with a new ``seq``)."""

    seq: int
    """Engine-wide sequence number at placement (or last amend): orders simultaneous fills."""
    order_id: str
    """Also the id of the position it opens."""
    user_id: str
    asset: str
    side: Side
    order_type: OrderType
    qty: int
    leverage: int
    price: int
    """The limit price (limit) or the stop price (stop), in ticks."""
    take_profit: int | None
    stop_loss: int | None
    reserved: int
    """Cents moved from the balance to the order margin (margin at ``price``, rounded up)."""
    expires_us: int | None
    """When it expires (entry time, microseconds); None: good till cancelled."""
    created_us: int
    trailing_stop: int | None = None
    """The trailing stop's distance (ticks) the position gets; it trails from the fill."""


def fill_price_for(side: Side, bid: int, ask: int) -> int:
    """A buy fills at the ask, a sell at the bid."""
    return ask if side is _BUY else bid


def waits(side: Side, order_type: OrderType, price: int, bid: int, ask: int) -> bool:
    """Whether ``price`` is on the waiting side of the market (placement is allowed)."""
    if side is _BUY:
        return price < ask if order_type is _LIMIT else price > ask
    return price > bid if order_type is _LIMIT else price < bid


def waiting_side_rule(side: Side, order_type: OrderType) -> str:
    """The placement rule in words, for a rejection's message."""
    field = "limitPrice" if order_type is _LIMIT else "stopPrice"
    if side is _BUY:
        where = "below the ask" if order_type is _LIMIT else "above the ask"
    else:
        where = "above the bid" if order_type is _LIMIT else "below the bid"
    return f"{field} of a {side.value} {order_type.value} must be {where}"


def price_field(order_type: OrderType) -> str:
    """The request field that carries the order's price."""
    return "limitPrice" if order_type is _LIMIT else "stopPrice"
