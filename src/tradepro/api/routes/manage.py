"""Managing open positions: modify take-profit, stop-loss and trailing stop; close all.

(A partial close is ``close-order`` with ``qty``, in ``routes.trade``.) Every change goes
through the engine and counts against the order limit; another user's order id is
``order_not_found``, exactly like an unknown one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tradepro.api.decimal_json import DecimalJsonRoute
from tradepro.api.deps import Context, CurrentUser, limit_orders
from tradepro.api.errors import ApiError
from tradepro.api.pending_input import price_text
from tradepro.api.routes.trade import ERRORS, own_position
from tradepro.api.schemas import CloseAllIn, CloseAllOut, ModifyOrderIn, OpenOrderNowOut
from tradepro.protocol.kinds import Kind
from tradepro.protocol.replies import AllClosedReply, Modified

router = APIRouter(prefix="/api/v1/trade", tags=["trade"], route_class=DecimalJsonRoute)
_LEVELS = ("takeProfit", "stopLoss", "trailingStop")


@router.post("/modify-order", response_model=OpenOrderNowOut, responses=ERRORS)
async def modify_order(body: ModifyOrderIn, user: CurrentUser, context: Context) -> dict[str, Any]:
    """Set or clear (``null``) an open position's take-profit, stop-loss and trailing stop
    (a distance in price units; setting it restarts the trailing from the current price).
    A level the current price has already reached is refused (``invalid_order``)."""
    given = [name for name in _LEVELS if name in body.model_fields_set]
    if not given:
        raise ApiError(422, "validation_error", "give takeProfit, stopLoss or trailingStop")
    await limit_orders(context, user)
    position = await own_position(context, user.id, body.orderId)
    instrument = context.settings.instruments[position["asset"]]
    payload: dict[str, Any] = {
        "userId": user.id,
        "orderId": body.orderId,
        "asset": instrument.symbol,
    }
    for name in given:
        value = getattr(body, name)
        payload[name] = None if value is None else price_text(value, instrument, name)
    modified = await context.ask_engine(Kind.MODIFY_ORDER, payload, Modified)
    return modified.order


@router.post("/close-all", response_model=CloseAllOut, responses=ERRORS)
async def close_all(body: CloseAllIn, user: CurrentUser, context: Context) -> dict[str, Any]:
    """Close every one of your open positions (of ``asset`` only, when given) at the live
    prices, in one engine command; refused whole when a needed price is missing or old."""
    await limit_orders(context, user)
    payload: dict[str, Any] = {"userId": user.id}
    if body.asset is not None:
        if body.asset not in context.settings.instruments:
            known = ", ".join(context.settings.instruments)
            raise ApiError(422, "validation_error", f"asset: unknown asset; known: {known}")
        payload["asset"] = body.asset
    closed = await context.ask_engine(Kind.CLOSE_ALL, payload, AllClosedReply)
    return {"orders": closed.orders, "balance": closed.balance}
