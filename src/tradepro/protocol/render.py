"""Events rendered into ``callback-queue`` bodies, orders in the REST shapes
(docs/architecture.md "HTTP API"): camelCase, decimal strings, ISO 8601 UTC.

Callback bodies carry the correlation ``id``, the ``status`` and the owner's ``userId``, so
the API can answer the waiting request and the WebSocket server can tell the owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from tradepro.domain.events import (
    AccountReported,
    AccountReset,
    AllClosed,
    ClosedTrade,
    CommandRejected,
    Deposited,
    EndedOrder,
    Event,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPlaced,
    PositionClosed,
    PositionModified,
    PositionOpened,
    SessionEnded,
    UserRegistered,
)
from tradepro.domain.fixed import USD_DECIMALS, format_scaled
from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import OrderType
from tradepro.domain.pending import PendingOrder
from tradepro.domain.positions import Position

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LISTED_ORDERS_CACHED = 20_000
"""Rendered positions kept for get-open-orders (about 1 KB each): a user who polls a page
of positions again and again costs the engine's loop half as much per poll."""


def iso_time(ts_us: int) -> str:
    """Microseconds since the epoch as ISO 8601 UTC with a ``Z`` (to the millisecond)."""
    return _iso_millisecond(ts_us // 1000)


@lru_cache(maxsize=4096)
def _iso_millisecond(ms: int) -> str:
    # Remembered: a busy batch stamps hundreds of orders with the same millisecond, and
    # the datetime arithmetic was 6 % of the engine's CPU under load.
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def money(cents: int) -> str:
    return format_scaled(cents, USD_DECIMALS)


def _price(value: int | None, instrument: Instrument) -> str | None:
    return None if value is None else format_scaled(value, instrument.price_decimals)


def open_order(position: Position, instrument: Instrument) -> dict[str, Any]:
    """The create-order / get-open-orders shape (without live PnL)."""
    return {
        "orderId": position.order_id,
        "asset": position.asset,
        "side": position.side.value,
        "qty": format_scaled(position.qty, instrument.qty_decimals),
        "leverage": position.leverage,
        "openPrice": _price(position.open_price, instrument),
        "margin": money(position.margin),
        "liquidationPrice": _price(position.liquidation_price, instrument),
        "takeProfit": _price(position.take_profit, instrument),
        "stopLoss": _price(position.stop_loss, instrument),
        "slippage": position.slippage_bps,
        "trailingStop": _price(position.trailing_stop, instrument),
        "commission": money(position.commission),
        "createdAt": iso_time(position.opened_us),
    }


@lru_cache(maxsize=LISTED_ORDERS_CACHED)
def _listed_order(position: Position, instrument: Instrument) -> dict[str, Any]:
    """``open_order``, remembered for the positions that accounts list again and again
    (a position never changes; the dict is shared: merged into new ones, never changed)."""
    return open_order(position, instrument)


def closed_order(trade: ClosedTrade, instrument: Instrument) -> dict[str, Any]:
    """The get-close-orders shape (``tradeId``: the row's own id, which differs from the
    order id for a partial close)."""
    position = trade.position
    return open_order(position, instrument) | {
        "tradeId": trade.id,
        "closePrice": _price(trade.close_price, instrument),
        "pnl": money(trade.pnl),
        "commission": money(trade.commission),
        "reason": trade.reason.value,
        "liquidated": trade.liquidated,
        "closedAt": iso_time(trade.closed_us),
    }


def pending_order(order: PendingOrder, instrument: Instrument) -> dict[str, Any]:
    """The get-pending-orders shape (also placed and amended)."""
    limit = order.order_type is OrderType.LIMIT
    return {
        "orderId": order.order_id,
        "asset": order.asset,
        "side": order.side.value,
        "type": order.order_type.value,
        "qty": format_scaled(order.qty, instrument.qty_decimals),
        "leverage": order.leverage,
        "limitPrice": _price(order.price, instrument) if limit else None,
        "stopPrice": None if limit else _price(order.price, instrument),
        "takeProfit": _price(order.take_profit, instrument),
        "stopLoss": _price(order.stop_loss, instrument),
        "trailingStop": _price(order.trailing_stop, instrument),
        "reservedMargin": money(order.reserved),
        "expiresAt": None if order.expires_us is None else iso_time(order.expires_us),
        "createdAt": iso_time(order.created_us),
    }


def ended_order(ended: EndedOrder, instrument: Instrument) -> dict[str, Any]:
    """The get-order-history shape: the order as it rested, and how it ended."""
    return pending_order(ended.order, instrument) | {
        "status": ended.status.value,
        "reason": ended.reason.value,
        "fillPrice": _price(ended.fill_price, instrument),
        "endedAt": iso_time(ended.ended_us),
    }


def _pending_body(event: Event, instruments: Mapping[str, Instrument]) -> dict[str, Any] | None:
    """The body of a pending order's event (placed, amended, filled, canceled, expired)."""
    if isinstance(event, OrderPlaced | OrderAmended):
        order = event.order
        shape = pending_order(order, instruments[order.asset])
    elif isinstance(event, OrderFilled | OrderCanceled | OrderExpired):
        order = event.ended.order
        shape = ended_order(event.ended, instruments[order.asset])
    else:
        return None
    body = {
        "id": event.request_id,
        "status": event.status,
        "userId": order.user_id,
        "balance": money(event.balance),
        "order": shape,
    }
    if isinstance(event, OrderFilled):
        body["position"] = open_order(event.position, instruments[order.asset])
    return body


def _closed_body(event: PositionClosed, instruments: Mapping[str, Instrument]) -> dict[str, Any]:
    """A ``closed`` body: the trade in the get-close-orders shape (and, after a partial
    close, the position that stays open)."""
    position = event.trade.position
    instrument = instruments[position.asset]
    closed = {
        "id": event.request_id,
        "status": event.status,
        "userId": position.user_id,
        "balance": money(event.balance),
        "order": closed_order(event.trade, instrument),
        "closedUs": event.trade.closed_us,  # exact (closedAt has milliseconds)
    }
    if event.remaining is not None:  # a partial close: what stays open
        closed["remaining"] = open_order(event.remaining, instrument)
    return closed


def _managed_body(event: Event, instruments: Mapping[str, Instrument]) -> dict[str, Any] | None:
    """The body of a close, a modify-order's or a close-all's answer."""
    if isinstance(event, PositionClosed):
        return _closed_body(event, instruments)
    if isinstance(event, PositionModified):
        position = event.position
        instrument = instruments[position.asset]
        return {
            "id": event.request_id,
            "status": event.status,
            "userId": position.user_id,
            "balance": money(event.balance),
            "order": open_order(position, instrument)
            | {"trailingStopPrice": _price(event.trailing_level, instrument)},
        }
    if isinstance(event, AllClosed):
        return {
            "id": event.request_id,
            "status": event.status,
            "userId": event.user_id,
            "balance": money(event.balance),
            "orders": [
                closed_order(trade, instruments[trade.position.asset]) for trade in event.trades
            ],
        }
    return None


def _ledger_body(event: Event, instruments: Mapping[str, Instrument]) -> dict[str, Any] | None:
    """A ``reset`` or ``deposit`` body: what the ledger entry moved, the new balance, and
    (a reset) the trades it closed and the pending orders it cancelled."""
    if not isinstance(event, AccountReset | Deposited):
        return None
    entry = event.entry
    body: dict[str, Any] = {
        "id": event.request_id,
        "status": event.status,
        "userId": entry.user_id,
        "balance": money(entry.balance_after),
        "amount": money(entry.amount),
        "at": iso_time(entry.created_us),
    }
    if isinstance(event, Deposited):
        body["depositAllowance"] = money(event.allowance)
        return body
    body["closedOrders"] = [
        closed_order(trade, instruments[trade.position.asset]) for trade in event.trades
    ]
    body["canceledOrders"] = [
        ended_order(ended, instruments[ended.order.asset]) for ended in event.canceled
    ]
    return body


def callback_body(event: Event, instruments: Mapping[str, Instrument]) -> dict[str, Any]:
    """The ``callback-queue`` JSON object for one engine event."""
    if isinstance(event, PositionOpened):
        position = event.position
        return {
            "id": event.request_id,
            "status": event.status,
            "userId": position.user_id,
            "balance": money(event.balance),
            "order": open_order(position, instruments[position.asset]),
        }
    if isinstance(event, CommandRejected):
        return {
            "id": event.request_id,
            "status": event.status,
            "userId": event.user_id,
            "error": event.reason.value,
            "message": event.message,
        }
    if isinstance(event, AccountReported):
        body: dict[str, Any] = {
            "id": event.request_id,
            "status": event.status,
            "userId": event.user_id,
            "balance": money(event.balance),
            "lockedMargin": money(event.locked),
            "orderMargin": money(event.reserved),
            "equity": money(event.equity),
        }
        if event.deposit_allowance is not None:
            body["depositAllowance"] = money(event.deposit_allowance)
        if event.pending is not None:
            body["pendingOrders"] = [
                pending_order(order, instruments[order.asset]) for order in event.pending
            ]
        if event.orders:  # rendering every position is most of a large account's cost
            body["orders"] = [
                _listed_order(position, instruments[position.asset])
                | {
                    "unrealizedPnl": None if pnl is None else money(pnl),
                    "trailingStopPrice": _price(level, instruments[position.asset]),
                }
                for position, pnl, level in event.positions
            ]
            body["nextCursor"] = event.next_cursor
        return body
    if isinstance(event, UserRegistered):
        return {
            "id": event.request_id,
            "status": event.status,
            "userId": event.user_id,
            "balance": money(event.balance),
            "created": event.created,
        }
    if isinstance(event, SessionEnded):
        return {
            "id": event.request_id,
            "status": event.status,
            "userId": event.user_id,
            "tokenId": event.token_id,
            "expiresAt": event.expires_at_s,
        }
    pending = (
        _pending_body(event, instruments)
        or _managed_body(event, instruments)
        or _ledger_body(event, instruments)
    )
    if pending is not None:
        return pending
    raise TypeError(f"not an engine event: {event!r}")
