"""Trading: open and close positions, list them. Every write goes through the engine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from sqlalchemy import and_, or_, select

from tradepro.api.decimal_json import DecimalJsonRoute
from tradepro.api.deps import Context, CurrentUser
from tradepro.api.errors import ApiError
from tradepro.api.ratelimit import enforce
from tradepro.api.schemas import (
    ClosedOrdersOut,
    CloseOrderIn,
    CloseOrderOut,
    CreateOrderIn,
    ErrorOut,
    OpenOrdersOut,
    OrderOut,
)
from tradepro.db.models import ExistingTrade
from tradepro.domain.fixed import USD_DECIMALS, InvalidNumberError, format_scaled, parse_scaled
from tradepro.engine.wire import iso_time

router = APIRouter(prefix="/api/v1/trade", tags=["trade"], route_class=DecimalJsonRoute)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CLOSED_FIELDS = (
    "orderId", "asset", "side", "qty", "leverage", "openPrice", "closePrice", "pnl", "reason",
    "liquidated", "slippage", "createdAt", "closedAt",
)  # fmt: skip
"""A closed order's fields in get-close-orders, whether read from a row or a callback."""
IDEMPOTENCY_MEMORY = 100_000
"""Idempotency keys remembered per API process; older ones are still safe while their
order is open (the engine refuses the repeated order id as ``duplicate_request``)."""
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 409, 422, 429, 503, 504)
}


@router.post("/create-order", response_model=OrderOut, responses=ERRORS)
async def create_order(
    order: CreateOrderIn,
    user: CurrentUser,
    context: Context,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> dict[str, Any]:
    """Open a position at the live price (buy at the ask, sell at the bid)."""
    request_id = None
    if idempotency_key is not None:
        earlier = context.idempotency.get((user.id, idempotency_key))
        if earlier is not None:
            return earlier
        request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user.id}/{idempotency_key}"))
    limit = context.settings.order_limit_per_s
    await enforce(context.order_limiter, user.id, limit, 1, "orders")
    payload = engine_order(order, user.id, context)
    try:
        reply = await context.engine("create-order", payload, request_id=request_id)
        result: dict[str, Any] = reply["order"]
    except ApiError as error:
        # The same key already opened this order (a retry after a 504, or a concurrent
        # twin): answer with that order, as it stands.
        if error.error != "duplicate_request" or request_id is None:
            raise
        result = await _open_order(context, user.id, request_id, error)
    if idempotency_key is not None:
        remembered = context.idempotency
        remembered[(user.id, idempotency_key)] = result
        if len(remembered) > IDEMPOTENCY_MEMORY:  # forget the oldest (dicts keep order)
            del remembered[next(iter(remembered))]
    return result


async def _open_order(
    context: Context, user_id: str, order_id: str, otherwise: ApiError
) -> dict[str, Any]:
    account = await context.engine("get-account", {"userId": user_id})
    for open_order in account["orders"]:
        if open_order["orderId"] == order_id:
            return {key: value for key, value in open_order.items() if key != "unrealizedPnl"}
    raise otherwise


def engine_order(order: CreateOrderIn, user_id: str, context: Context) -> dict[str, Any]:
    """Check every number against the instrument and render it canonically for the engine."""
    instrument = context.settings.instruments.get(order.asset)
    if instrument is None:
        known = ", ".join(context.settings.instruments)
        raise ApiError(422, "validation_error", f"asset: unknown asset; known: {known}")
    if order.leverage > instrument.max_leverage:
        message = f"leverage: must be 1..{instrument.max_leverage} for {order.asset}"
        raise ApiError(422, "validation_error", message)
    if (order.price is None) != (order.slippage is None):
        raise ApiError(422, "validation_error", "price, slippage: give both or neither")
    payload: dict[str, Any] = {
        "userId": user_id,
        "asset": order.asset,
        "side": order.side,
        "leverage": order.leverage,
    }
    numbers = {
        "qty": (order.qty, instrument.qty_decimals),
        "takeProfit": (order.takeProfit, instrument.price_decimals),
        "stopLoss": (order.stopLoss, instrument.price_decimals),
        "price": (order.price, instrument.price_decimals),
    }
    try:
        for name, (value, decimals) in numbers.items():
            if value is not None:
                payload[name] = format_scaled(parse_scaled(value, decimals, name), decimals)
    except InvalidNumberError as error:
        raise ApiError(422, "validation_error", str(error)) from None
    if order.slippage is not None:
        payload["slippage"] = order.slippage
    return payload


@router.post("/close-order", response_model=CloseOrderOut, responses=ERRORS)
async def close_order(body: CloseOrderIn, user: CurrentUser, context: Context) -> dict[str, Any]:
    """Close one of your open positions at the live price."""
    reply = await context.engine("close-order", {"userId": user.id, "orderId": body.orderId})
    order = reply["order"]
    return {
        "orderId": order["orderId"],
        "closePrice": order["closePrice"],
        "pnl": order["pnl"],
        "reason": order["reason"],
        "balance": reply["balance"],
    }


@router.get("/get-open-orders", response_model=OpenOrdersOut, responses=ERRORS)
async def get_open_orders(user: CurrentUser, context: Context) -> dict[str, Any]:
    """Your open positions with their unrealized PnL at the live price."""
    context.reads.enforce(user.id)
    reply = await context.engine("get-account", {"userId": user.id})
    return {"orders": reply["orders"]}


@router.get("/get-close-orders", response_model=ClosedOrdersOut, responses=ERRORS)
async def get_close_orders(
    user: CurrentUser,
    context: Context,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Your closed trades, newest first; pass ``nextCursor`` back as ``cursor`` for more."""
    context.reads.enforce(user.id)
    trades = ExistingTrade.__table__
    query = select(trades).where(trades.c.user_id == user.id)
    if cursor is not None:
        closed_at, order_id = _parse_cursor(cursor)
        query = query.where(
            or_(
                trades.c.closed_at < closed_at,
                and_(trades.c.closed_at == closed_at, trades.c.id < order_id),
            )
        )
    query = query.order_by(trades.c.closed_at.desc(), trades.c.id.desc()).limit(limit + 1)
    async with context.database.connect() as connection:
        rows = (await connection.execute(query)).all()
    page = [(_micros(row.closed_at), row.id, _closed(row, context)) for row in rows]
    # Trades closed moments ago whose rows may not be written yet (see api/recent.py).
    written = {order_id for _, order_id, _ in page}
    after = _cursor_key(cursor) if cursor is not None else None
    for closed_us, order in context.recent_closes.of(user.id):
        key = (closed_us, order["orderId"])
        if key[1] not in written and (after is None or key < after):
            page.append((*key, {name: order[name] for name in CLOSED_FIELDS}))
    page.sort(key=lambda item: (item[0], item[1]), reverse=True)
    next_cursor = None
    if len(page) > limit:
        closed_us, order_id, _ = page[limit - 1]
        next_cursor = f"{closed_us}.{order_id}"
    return {"orders": [order for _, _, order in page[:limit]], "nextCursor": next_cursor}


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _cursor_key(cursor: str) -> tuple[int, str]:
    closed_at, order_id = _parse_cursor(cursor)
    return _micros(closed_at), order_id


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    """``<closed at, microseconds since the epoch>.<order id>``, exactly as ``nextCursor``
    writes it; anything else (other digits than ASCII, a date past the year 9999, an id
    that is not a canonical UUID) is a 422, never a database error."""
    micros, _, order_id = cursor.partition(".")
    try:
        if not (micros.isascii() and micros.isdigit()) or str(uuid.UUID(order_id)) != order_id:
            raise ValueError(cursor)
        moment = _EPOCH + timedelta(microseconds=int(micros))
    except (ValueError, OverflowError):
        raise ApiError(422, "validation_error", "cursor: not a cursor from nextCursor") from None
    return moment, order_id


def _closed(row: Any, context: Context) -> dict[str, Any]:
    instrument = context.settings.instruments.get(row.asset)
    price_decimals = instrument.price_decimals if instrument else 0
    qty_decimals = instrument.qty_decimals if instrument else 0
    return {
        "orderId": row.id,
        "asset": row.asset,
        "side": row.side,
        "qty": format_scaled(row.quantity, qty_decimals),
        "leverage": row.leverage,
        "openPrice": format_scaled(row.open_price, price_decimals),
        "closePrice": format_scaled(row.close_price, price_decimals),
        "pnl": format_scaled(row.pnl, USD_DECIMALS),
        "reason": row.reason,
        "liquidated": bool(row.liquidated),
        "slippage": row.slippage,
        "createdAt": iso_time(_micros(row.created_at)),
        "closedAt": iso_time(_micros(row.closed_at)),
    }
