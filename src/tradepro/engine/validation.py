"""What makes a create-order invalid before and after its price is known: its shape
(asset, leverage, quantities, ids, the slippage guard), its take-profit and stop-loss
levels against the open price, and the slippage between the seen and the execution price.
Each check returns what is wrong in words (the rejection's message), or None."""

from __future__ import annotations

from tradepro.domain.commands import CreateOrder
from tradepro.domain.orders import Side
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


def levels_problem(command: CreateOrder, open_price: int) -> str | None:
    """Take-profit and stop-loss must lie strictly on the right side of the open price."""
    take_profit, stop_loss = command.take_profit, command.stop_loss
    if command.side is _BUY:
        if take_profit is not None and take_profit <= open_price:
            return "takeProfit must be above the open price"
        if stop_loss is not None and stop_loss >= open_price:
            return "stopLoss must be below the open price"
        return None
    if take_profit is not None and take_profit >= open_price:
        return "takeProfit must be below the open price"
    if stop_loss is not None and stop_loss <= open_price:
        return "stopLoss must be above the open price"
    return None


def slipped(command: CreateOrder, open_price: int) -> bool:
    """Whether the execution price is worse than the seen price by more than allowed."""
    seen, tolerance = command.price, command.slippage_bps
    assert seen is not None and tolerance is not None  # checked by order_shape_problem
    if command.side is _BUY:
        return open_price * BASIS_POINTS > seen * (BASIS_POINTS + tolerance)
    return open_price * BASIS_POINTS < seen * (BASIS_POINTS - tolerance)
