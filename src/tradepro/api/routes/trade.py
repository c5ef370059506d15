"""Trading: open and close positions, list them. Every write goes through the engine."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response

from tradepro.api.decimal_json import DecimalJsonRoute
from tradepro.api.deps import Context, CurrentUser, limit_orders, limit_reads
from tradepro.api.errors import ApiError
from tradepro.api.history import (
    CLOSED_FIELDS,
    EPOCH,
    AssetFilter,
    FromFilter,
    ReasonFilter,
    SideFilter,
    ToFilter,
    closed_order,
    micros,
    trade_filter,
)
from tradepro.api.idempotency import IdempotencyKey, create_once
from tradepro.api.pending_input import pending_fields, qty_text
from tradepro.api.schemas import (
    ClosedOrdersOut,
    CloseOrderIn,
    CloseOrderOut,
    CreateOrderIn,
    ErrorOut,
    OpenOrdersOut,
    OrderOut,
    PendingOrderOut,
)
from tradepro.bus.requests import new_request_id
from tradepro.db.queries.orders import ended_order
from tradepro.db.queries.trades import TradeRow, closed_trade, closed_trades_page
from tradepro.domain.fixed import InvalidNumberError, format_scaled, parse_scaled
from tradepro.domain.orders import Side
from tradepro.domain.positions import Position
from tradepro.engine.reads import PAGE_DEFAULT, PAGE_MAX
from tradepro.protocol.kinds import Kind
from tradepro.protocol.render import open_order, pending_order
from tradepro.protocol.replies import Account, Closed, Created

router = APIRouter(prefix="/api/v1/trade", tags=["trade"], route_class=DecimalJsonRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 409, 422, 429, 503, 504)
}


@router.post("/create-order", response_model=OrderOut | PendingOrderOut, responses=ERRORS)
async def create_order(
    order: CreateOrderIn,
    user: CurrentUser,
    context: Context,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Open a position at the live price (buy at the ask, sell at the bid), or with
    ``type`` ``limit`` or ``stop`` place a pending order that waits for its price (its
    margin at that price is reserved; the answer is the pending order).

    With an ``Idempotency-Key`` header, a retry with the same key and order returns the
    first answer (for 24 h by default, from any API process) and opens nothing new; the
    same key with a different order is refused with 422 ``idempotency_mismatch``."""
    if idempotency_key is None:
        await limit_orders(context, user)
        payload = engine_order(order, user.id, context)
        created = await context.ask_engine(Kind.CREATE_ORDER, payload, Created)  # a fresh id
        return created.order
    payload = engine_order(order, user.id, context)

    async def send(order_id: str) -> dict[str, Any]:
        await limit_orders(context, user)
        opened = await context.ask_engine(Kind.CREATE_ORDER, payload, Created, request_id=order_id)
        return opened.order

    async def resolve(order_id: str, duplicate: ApiError) -> dict[str, Any]:
        return await _earlier_order(context, user.id, order_id, duplicate)

    return await create_once(
        context.idempotency,
        user.id,
        idempotency_key,
        payload,
        retention_s=context.settings.idempotency_retention_s,
        new_id=new_request_id,
        send=send,
        resolve=resolve,
    )


async def _earlier_order(
    context: Context, user_id: str, order_id: str, duplicate: ApiError
) -> dict[str, Any]:
    """The order that ``order_id`` already opened: open, or closed since (then as it was
    when created, from its trade row)."""
    request = {"userId": user_id, "orderId": order_id}  # one lookup in the engine
    account = await context.ask_engine(Kind.GET_ACCOUNT, request, Account)
    if account.orders:  # still open
        return {key: value for key, value in account.orders[0].items() if key != "unrealizedPnl"}
    if account.pending_orders:  # a pending order, still waiting
        return account.pending_orders[0]
    placed = await ended_order(context.database, user_id, order_id)
    instrument = context.settings.instruments.get(placed.asset) if placed is not None else None
    if placed is not None and instrument is not None:  # a pending order that has ended
        return pending_order(placed.as_pending(), instrument)
    row = await closed_trade(context.database, user_id, order_id)
    instrument = context.settings.instruments.get(row.asset) if row is not None else None
    if row is None or instrument is None:
        message = (
            "this Idempotency-Key's order was opened and has since been closed; "
            "see get-close-orders"
        )
        raise ApiError(duplicate.status, duplicate.error, message)
    return open_order(_position(row), instrument)


def _position(row: TradeRow) -> Position:
    """The position a closed trade's row was opened as (``seq`` is not kept: 0)."""
    return Position(
        0, row.id, row.user_id, row.asset, Side(row.side), row.quantity, row.leverage,
        row.open_price, row.margin, row.take_profit, row.stop_loss, row.liquidation_price,
        row.slippage, micros(row.created_at),
    )  # fmt: skip


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
    pending = pending_fields(order, instrument)
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
        "trailingStop": (order.trailingStop, instrument.price_decimals),
    }
    try:
        for name, (value, decimals) in numbers.items():
            if value is not None:
                payload[name] = format_scaled(parse_scaled(value, decimals, name), decimals)
    except InvalidNumberError as error:
        raise ApiError(422, "validation_error", str(error)) from None
    if order.slippage is not None:
        payload["slippage"] = order.slippage
    return payload | pending


@router.post("/close-order", response_model=CloseOrderOut, responses=ERRORS)
async def close_order(
    body: CloseOrderIn,
    user: CurrentUser,
    context: Context,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Close one of your open positions at the live price; with ``qty``, only that much
    (a multiple of the instrument's step, below the open qty): the rest stays open as if
    opened with the remaining qty. Each close is its own closed trade (``tradeId``).

    With an ``Idempotency-Key`` header, a retry with the same key and close returns the
    first answer and closes nothing more (a partial close retried after a lost answer
    would otherwise close a second part)."""
    request: dict[str, Any] = {"userId": user.id, "orderId": body.orderId}

    async def send(request_id: str | None) -> dict[str, Any]:
        await limit_orders(context, user)
        command = request
        if body.qty is not None:
            # The position's asset scales the qty: ask for the position first (one lookup).
            position = await own_position(context, user.id, body.orderId)
            instrument = context.settings.instruments[position["asset"]]
            command = request | {"asset": position["asset"], "qty": qty_text(body.qty, instrument)}
        closed = await context.ask_engine(Kind.CLOSE_ORDER, command, Closed, request_id=request_id)
        return _close_answer(closed)

    if idempotency_key is None:
        return await send(None)

    async def resolve(request_id: str, duplicate: ApiError) -> dict[str, Any]:
        # Applied before, its answer never stored (the API stopped in between).
        message = (
            "this Idempotency-Key's close was applied; its trade is "
            f"{request_id} in get-close-orders"
        )
        raise ApiError(duplicate.status, duplicate.error, message)

    return await create_once(
        context.idempotency,
        user.id,
        idempotency_key,
        # Without looking the position up: a retry finds the first answer even once the
        # position is gone. The qty in one canonical spelling ("0.01" is "0.010").
        {"kind": "close", **request}
        | ({} if body.qty is None else {"qty": _canonical_qty(body.qty)}),
        retention_s=context.settings.idempotency_retention_s,
        new_id=new_request_id,
        send=send,
        resolve=resolve,
    )


def _canonical_qty(value: object) -> str:
    """A qty in one spelling whatever the instrument ("0.01" and 0.010 are the same)."""
    try:
        return format_scaled(parse_scaled(value, 18, "qty"), 18)
    except InvalidNumberError as error:
        raise ApiError(422, "validation_error", str(error)) from None


def _close_answer(closed: Closed) -> dict[str, Any]:
    order = closed.order
    remaining = closed.remaining
    return {
        "orderId": order["orderId"],
        "tradeId": order.get("tradeId", order["orderId"]),
        "closePrice": order["closePrice"],
        "pnl": order["pnl"],
        "commission": order.get("commission", "0.00"),
        "reason": order["reason"],
        "balance": closed.balance,
        "closedQty": order["qty"],
        "remainingQty": _zero_like(order["qty"]) if remaining is None else remaining["qty"],
    }


def _zero_like(qty: str) -> str:
    """ "0" with the decimals of ``qty`` (nothing remains after a whole close)."""
    _, dot, fraction = qty.partition(".")
    return "0" + dot + "0" * len(fraction)


async def own_position(context: Context, user_id: str, order_id: str) -> dict[str, Any]:
    """One of the caller's open positions as get-open-orders shows it, or a 404."""
    lookup = {"userId": user_id, "orderId": order_id}
    account = await context.ask_engine(Kind.GET_ACCOUNT, lookup, Account)
    if not account.orders:
        raise ApiError(404, "order_not_found", f"no open order {order_id!r}")
    return account.orders[0]


@router.get("/get-open-orders", response_model=OpenOrdersOut, responses=ERRORS)
async def get_open_orders(
    user: CurrentUser,
    context: Context,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Your open positions with their unrealized PnL at the live price, oldest first (by
    order id); pass ``nextCursor`` back as ``cursor`` for the next page."""
    await limit_reads(context, user)
    request: dict[str, Any] = {"userId": user.id, "limit": limit}
    if cursor is not None:
        request["after"] = _open_cursor(cursor)
    account = await context.ask_engine(Kind.GET_ACCOUNT, request, Account)
    # The engine renders the orders in exactly the response model's shape (a unit test
    # keeps it so): checking 500 of them against the model again cost the API's loop
    # 3 ms a page, which every other request waited for.
    page = {"orders": account.orders, "nextCursor": account.next_cursor}
    return Response(orjson.dumps(page), media_type="application/json")


def _open_cursor(cursor: str) -> str:
    """A get-open-orders cursor is the last order id of the previous page, exactly as
    ``nextCursor`` wrote it: anything else is a 422, never sent to the engine."""
    try:
        if str(uuid.UUID(cursor)) == cursor:
            return cursor
    except ValueError:
        pass
    raise ApiError(422, "validation_error", "cursor: not a cursor from nextCursor")


@router.get("/get-close-orders", response_model=ClosedOrdersOut, responses=ERRORS)
async def get_close_orders(  # noqa: PLR0917 (the query's parameters)
    user: CurrentUser,
    context: Context,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    asset: AssetFilter = None,
    side: SideFilter = None,
    reason: ReasonFilter = None,
    closed_from: FromFilter = None,
    closed_to: ToFilter = None,
) -> dict[str, Any]:
    """Your closed trades, newest first, optionally filtered; pass ``nextCursor`` back as
    ``cursor`` (with the same filters) for more."""
    await limit_reads(context, user)
    instruments = context.settings.instruments
    kept = trade_filter(
        instruments,
        asset=asset,
        side=side,
        reason=reason,
        closed_from=closed_from,
        closed_to=closed_to,
    )
    before = parse_cursor(cursor) if cursor is not None else None
    rows = await closed_trades_page(context.database, user.id, before, limit + 1, kept)
    page = [(micros(row.closed_at), row.id, closed_order(row, instruments)) for row in rows]
    # Trades closed moments ago whose rows may not be written yet (see api/recent.py).
    written = {order_id for _, order_id, _ in page}
    after = _cursor_key(cursor) if cursor is not None else None
    for closed_us, order in context.recent_closes.of(user.id):
        key = (closed_us, order.get("tradeId", order["orderId"]))
        closed_at = EPOCH + timedelta(microseconds=closed_us)
        if (
            key[1] not in written
            and (after is None or key < after)
            and kept.keeps(order["asset"], order["side"], order["reason"], closed_at)
        ):
            page.append((*key, {name: order[name] for name in CLOSED_FIELDS}))
    page.sort(key=lambda item: (item[0], item[1]), reverse=True)
    next_cursor = None
    if len(page) > limit:
        closed_us, order_id, _ = page[limit - 1]
        next_cursor = f"{closed_us}.{order_id}"
    return {"orders": [order for _, _, order in page[:limit]], "nextCursor": next_cursor}


def _cursor_key(cursor: str) -> tuple[int, str]:
    closed_at, order_id = parse_cursor(cursor)
    return micros(closed_at), order_id


def parse_cursor(cursor: str) -> tuple[datetime, str]:
    """``<closed at, microseconds since the epoch>.<order id>``, exactly as ``nextCursor``
    writes it; anything else (other digits than ASCII, a date past the year 9999, an id
    that is not a canonical UUID) is a 422, never a database error."""
    micros, _, order_id = cursor.partition(".")
    try:
        if not (micros.isascii() and micros.isdigit()) or str(uuid.UUID(order_id)) != order_id:
            raise ValueError(cursor)
        moment = EPOCH + timedelta(microseconds=int(micros))
    except (ValueError, OverflowError):
        raise ApiError(422, "validation_error", "cursor: not a cursor from nextCursor") from None
    return moment, order_id
