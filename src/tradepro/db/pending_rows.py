"""Pending orders in the database: the engine's resting orders (``pending_orders``, part of
its snapshot) and the history of ended ones (``order_history``, read by the API).

A save upserts the orders placed or amended since the last one (by order id: an amend
replaces the row), deletes those that ended and writes their history rows, idempotently:
a save retried after an unknown outcome changes nothing. An ended order that opened no
position keeps its id in ``engine_order_ids`` (a filled one's id is its position's), so
recovery still refuses it for the order id window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from tradepro.db.bulk import BulkWriter, Pacer
from tradepro.db.models import Base
from tradepro.domain.events import EndedOrder
from tradepro.domain.order_ids import order_id_time_ms
from tradepro.domain.orders import OrderStatus
from tradepro.domain.pending import PendingOrder

PENDING: Table = Base.metadata.tables["pending_orders"]
HISTORY: Table = Base.metadata.tables["order_history"]
ORDER_IDS: Table = Base.metadata.tables["engine_order_ids"]

PENDING_FIELDS = PendingOrder._fields
"""Column names of ``pending_orders`` in snapshot row order (the ``PendingOrder`` fields)."""
_PENDING_COLUMNS = ("shard", *PENDING_FIELDS)
_AMENDABLE = (
    "seq", "qty", "price", "take_profit", "stop_loss", "reserved", "expires_us", "trailing_stop",
)  # fmt: skip
_UPSERT = "ON CONFLICT (order_id) DO UPDATE SET " + ", ".join(
    f"{name} = excluded.{name}" for name in _AMENDABLE
)
HISTORY_COLUMNS = (
    "id", "user_id", "asset", "side", "order_type", "quantity", "leverage", "price",
    "take_profit", "stop_loss", "reserved", "status", "reason", "fill_price", "expires_at",
    "created_at", "ended_at", "trailing_stop",
)  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def save_pending(
    bulk: BulkWriter,
    connection: AsyncConnection,
    shard: int,
    changes: tuple[Sequence[PendingOrder], Sequence[EndedOrder]],
    pacer: Pacer | None,
) -> None:
    """Write one change set's pending orders: ``(placed, ended)``."""
    placed, ended = changes
    if not placed and not ended:
        return
    await bulk.insert(
        connection,
        PENDING,
        _PENDING_COLUMNS,
        ((shard, *o[:4], o.side.value, o.order_type.value, *o[6:]) for o in placed),
        _UPSERT,
        pacer=pacer,
    )
    ended_ids = [item.order.order_id for item in ended]
    await bulk.delete(connection, PENDING, "order_id", ended_ids, pacer=pacer)
    await record_history(bulk, connection, ended, pacer)
    unfilled = [item.order.order_id for item in ended if item.status is not OrderStatus.FILLED]
    await bulk.insert(
        connection,
        ORDER_IDS,
        ("order_id", "shard", "made_ms"),
        ((order_id, shard, order_id_time_ms(order_id)) for order_id in unfilled),
        "ON CONFLICT (order_id) DO NOTHING",
        pacer=pacer,
    )


async def record_history(
    bulk: BulkWriter,
    connection: AsyncConnection,
    ended: Sequence[EndedOrder],
    pacer: Pacer | None = None,
) -> None:
    """Insert history rows (those already there are left alone)."""
    await bulk.insert(
        connection,
        HISTORY,
        HISTORY_COLUMNS,
        map(history_row, ended),
        "ON CONFLICT (id) DO NOTHING",
        pacer=pacer,
    )


def history_row(ended: EndedOrder) -> tuple[Any, ...]:
    order = ended.order
    return (
        order.order_id,
        order.user_id,
        order.asset,
        order.side.value,
        order.order_type.value,
        order.qty,
        order.leverage,
        order.price,
        order.take_profit,
        order.stop_loss,
        order.reserved,
        ended.status.value,
        ended.reason.value,
        ended.fill_price,
        None if order.expires_us is None else _utc(order.expires_us),
        _utc(order.created_us),
        _utc(ended.ended_us),
        order.trailing_stop,
    )


def _utc(timestamp_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=timestamp_us)
