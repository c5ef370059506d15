"""Pending orders: list, cancel and amend them, and page through the ones that ended.

Placing one is ``create-order`` with ``type`` ``limit`` or ``stop`` (``routes.trade``).
Every change goes through the engine; another user's order id is ``order_not_found``,
exactly like an unknown one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tradepro.api.decimal_json import DecimalJsonRoute
from tradepro.api.deps import Context, CurrentUser, limit_orders, limit_reads
from tradepro.api.errors import ApiError
from tradepro.api.pending_input import expires_us, price_text, qty_text
from tradepro.api.routes.trade import ERRORS, parse_cursor
from tradepro.api.schemas import (
    AmendOrderIn,
    CancelOrderIn,
    CancelOrderOut,
    OrderHistoryOut,
    PendingOrderOut,
    PendingOrdersOut,
)
from tradepro.db.queries.orders import micros, order_history_page
from tradepro.protocol.kinds import Kind
from tradepro.protocol.render import ended_order
from tradepro.protocol.replies import Account, Ended, Pending

router = APIRouter(prefix="/api/v1/trade", tags=["pending orders"], route_class=DecimalJsonRoute)


@router.get("/get-pending-orders", response_model=PendingOrdersOut, responses=ERRORS)
async def get_pending_orders(user: CurrentUser, context: Context) -> dict[str, Any]:
    """Your pending (limit and stop) orders, oldest first (by order id)."""
    await limit_reads(context, user)
    request = {"userId": user.id, "pending": True}
    account = await context.ask_engine(Kind.GET_ACCOUNT, request, Account)
    return {"orders": account.pending_orders or []}


@router.post("/cancel-order", response_model=CancelOrderOut, responses=ERRORS)
async def cancel_order(body: CancelOrderIn, user: CurrentUser, context: Context) -> dict[str, Any]:
    """Cancel one of your pending orders: its reserved margin returns to your balance."""
    await limit_orders(context, user)
    request = {"userId": user.id, "orderId": body.orderId}
    ended = await context.ask_engine(Kind.CANCEL_ORDER, request, Ended)
    return {"orderId": ended.order["orderId"], "status": "canceled", "balance": ended.balance}


@router.post("/amend-order", response_model=PendingOrderOut, responses=ERRORS)
async def amend_order(body: AmendOrderIn, user: CurrentUser, context: Context) -> dict[str, Any]:
    """Change a pending order's price, qty, take-profit, stop-loss, trailing stop or expiry
    (``null`` clears the last four): checked and reserved again as if placed now, same id."""
    await limit_orders(context, user)
    given = body.model_fields_set - {"orderId"}
    if not given:
        message = (
            "give at least one of limitPrice, stopPrice, qty, takeProfit, stopLoss, "
            "trailingStop, expiresAt"
        )
        raise ApiError(422, "validation_error", message)
    # The order's asset scales the numbers: ask for the order first (one lookup).
    lookup = {"userId": user.id, "orderId": body.orderId, "orders": False}
    account = await context.ask_engine(Kind.GET_ACCOUNT, lookup, Account)
    if not account.pending_orders:
        raise ApiError(404, "order_not_found", f"no pending order {body.orderId!r}")
    order = account.pending_orders[0]
    instrument = context.settings.instruments[order["asset"]]
    price_field = "limitPrice" if order["type"] == "limit" else "stopPrice"
    other = "stopPrice" if price_field == "limitPrice" else "limitPrice"
    if other in given:
        raise ApiError(422, "validation_error", f"{other}: this is a {order['type']} order")
    payload: dict[str, Any] = {"userId": user.id, "orderId": body.orderId, "asset": order["asset"]}
    for name in (
        "limitPrice", "stopPrice", "qty", "takeProfit", "stopLoss", "trailingStop", "expiresAt",
    ):  # fmt: skip
        if name not in given:
            continue
        value = getattr(body, name)
        if value is None and name in ("limitPrice", "stopPrice", "qty"):
            raise ApiError(422, "validation_error", f"{name}: cannot be cleared")
        if value is None:
            payload["expiresUs" if name == "expiresAt" else name] = None
        elif name == "qty":
            payload[name] = qty_text(value, instrument)
        elif name == "expiresAt":
            payload["expiresUs"] = expires_us(value)
        else:
            payload[name] = price_text(value, instrument, name)
    amended = await context.ask_engine(Kind.AMEND_ORDER, payload, Pending)
    return amended.order


@router.get("/get-order-history", response_model=OrderHistoryOut, responses=ERRORS)
async def get_order_history(
    user: CurrentUser,
    context: Context,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Your pending orders that ended (filled, canceled, expired, or rejected at their fill
    for balance), newest first; pass ``nextCursor`` back as ``cursor`` for more."""
    await limit_reads(context, user)
    before = parse_cursor(cursor) if cursor is not None else None
    rows = await order_history_page(context.database, user.id, before, limit + 1)
    instruments = context.settings.instruments
    orders = [
        ended_order(row.as_ended(), instruments[row.asset])
        for row in rows[:limit]
        if row.asset in instruments
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = f"{micros(last.ended_at)}.{last.id}"
    return {"orders": orders, "nextCursor": next_cursor}
