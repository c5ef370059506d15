"""What makes a create-order invalid before and after its price is known: its shape
(asset, leverage, quantities, ids, the slippage guard), its take-profit and stop-loss
levels against the open price, and the slippage between the seen and the execution price.
Each check returns what is wrong in words (the rejection's message), or None."""

from __future__ import annotations

from tradepro.domain.commands import CreateOrder
from tradepro.domain.fixed import USD_DECIMALS, format_scaled
from tradepro.domain.order_ids import order_id_time_ms
from tradepro.domain.orders import OrderType, Side
from tradepro.domain.pending import price_field
from tradepro.domain.positions import BASIS_POINTS, Contract

MAX_ID_LENGTH = 64
"""The longest user id or order id the engine accepts."""

_BUY = Side.BUY


def order_shape_problem(command: CreateOrder, contract: Contract | None) -> str | None:
    if contract is None:
        return f"unknown asset {command.asset!r}"
    max_leverage = contract.instrument.max_leverage
    if not 1 <= command.leverage <= max_leverage:
        return f"leverage must be 1..{max_leverage}"
    if command.qty <= 0:
        return "qty must be positive"
    if command.take_profit is not None and command.take_profit <= 0:
        return "takeProfit must be positive"
    if command.stop_loss is not None and command.stop_loss <= 0:
        return "stopLoss must be positive"
    if command.trailing_stop is not None and command.trailing_stop <= 0:
        return "trailingStop must be positive"
    if not 0 < len(command.request_id) <= MAX_ID_LENGTH:
        return f"order id must be 1..{MAX_ID_LENGTH} characters"
    if command.price is None and command.slippage_bps is None:
        return None
    return _slippage_shape_problem(command)


def _slippage_shape_problem(command: CreateOrder) -> str | None:
    if command.price is None or command.slippage_bps is None:
        return "price and slippage go together"
    if command.price <= 0:
        return "price must be positive"
    if not 0 <= command.slippage_bps <= BASIS_POINTS:
        return f"slippage must be 0..{BASIS_POINTS} basis points"
    return None


def pending_shape_problem(command: CreateOrder, contract: Contract) -> str | None:
    """What a limit or stop order may not carry, beyond a market order's shape: a
    slippage guard (it fills at the tick's price by design), or a missing price."""
    if command.price is not None or command.slippage_bps is not None:
        return "price and slippage apply to market orders only"
    field = price_field(command.order_type)
    if command.trigger_price is None:
        return f"{field} is required for a {command.order_type.value} order"
    if command.trigger_price <= 0:
        return f"{field} must be positive"
    if command.qty <= 0:
        return "qty must be positive"
    max_leverage = contract.instrument.max_leverage
    if not 1 <= command.leverage <= max_leverage:
        return f"leverage must be 1..{max_leverage}"
    for name, level in (
        ("takeProfit", command.take_profit),
        ("stopLoss", command.stop_loss),
        ("trailingStop", command.trailing_stop),
    ):
        if level is not None and level <= 0:
            return f"{name} must be positive"
    return None


def market_shape_problem(command: CreateOrder) -> str | None:
    """A market order carries no limit or stop price and no expiry."""
    if command.order_type is not OrderType.MARKET:
        return None
    if command.trigger_price is not None:
        return "limitPrice and stopPrice apply to limit and stop orders only"
    if command.expires_us is not None:
        return "expiresAt applies to limit and stop orders only"
    return None


def levels_problem(
    command: CreateOrder, open_price: int, against: str = "the open price"
) -> str | None:
    """Take-profit and stop-loss must lie strictly on the right side of the open price
    (of a pending order: of its limit or stop price)."""
    take_profit, stop_loss = command.take_profit, command.stop_loss
    if command.side is _BUY:
        if take_profit is not None and take_profit <= open_price:
            return f"takeProfit must be above {against}"
        if stop_loss is not None and stop_loss >= open_price:
            return f"stopLoss must be below {against}"
        return None
    if take_profit is not None and take_profit >= open_price:
        return f"takeProfit must be below {against}"
    if stop_loss is not None and stop_loss <= open_price:
        return f"stopLoss must be above {against}"
    return None


def slipped(command: CreateOrder, open_price: int) -> bool:
    """Whether the execution price is worse than the seen price by more than allowed."""
    seen, tolerance = command.price, command.slippage_bps
    assert seen is not None and tolerance is not None  # checked by order_shape_problem
    if command.side is _BUY:
        return open_price * BASIS_POINTS > seen * (BASIS_POINTS + tolerance)
    return open_price * BASIS_POINTS < seen * (BASIS_POINTS - tolerance)


def order_id_problem(order_id: str, horizon_ms: int, window_us: int) -> str:
    """Why an order id cannot be used: not time-ordered, too old to check, or ahead."""
    id_ms = order_id_time_ms(order_id)
    if id_ms < 0:
        return "order id must be a time-ordered UUID (version 7)"
    if id_ms < horizon_ms:
        return f"order id was made more than {window_us / 3_600_000_000:g} h before this order"
    return "order id was made in the future (check the sender's clock)"


def dollars(cents: int) -> str:
    """Cents (never negative here) as "$95,780,400.00": grouped as the UI shows money."""
    whole, fraction = format_scaled(cents, USD_DECIMALS).split(".")
    return f"${int(whole):,}.{fraction}"
