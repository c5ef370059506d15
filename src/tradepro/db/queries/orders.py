"""Ended pending orders (``order_history``) as the API reads them: one by id, or a page of
a user's history, newest first.

Paged by keyset like closed trades (``queries.trades``): the rows after the previous
page's last ``(ended_at, id)``, as one row comparison beside ``user_id = :user``, which
both databases read as a range of the index ``(user_id, ended_at DESC, id DESC)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.models import OrderHistoryRow
from tradepro.domain.events import EndedOrder
from tradepro.domain.orders import EndReason, OrderStatus, OrderType, Side
from tradepro.domain.pending import PendingOrder

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class HistoryRow(NamedTuple):
    """One ended order, amounts as stored (integer ticks, lots and cents)."""

    id: str
    user_id: str
    asset: str
    side: str
    order_type: str
    quantity: int
    leverage: int
    price: int
    take_profit: int | None
    stop_loss: int | None
    reserved: int
    status: str
    reason: str
    fill_price: int | None
    expires_at: datetime | None
    created_at: datetime
    ended_at: datetime
    trailing_stop: int | None = None

    def as_pending(self) -> PendingOrder:
        """The order as it rested (``seq`` is not kept: 0)."""
        return PendingOrder(
            0, self.id, self.user_id, self.asset, Side(self.side), OrderType(self.order_type),
            self.quantity, self.leverage, self.price, self.take_profit, self.stop_loss,
            self.reserved, None if self.expires_at is None else micros(self.expires_at),
            micros(self.created_at), self.trailing_stop,
        )  # fmt: skip

    def as_ended(self) -> EndedOrder:
        return EndedOrder(
            self.as_pending(),
            OrderStatus(self.status),
            EndReason(self.reason),
            micros(self.ended_at),
            self.fill_price,
        )


_HISTORY = OrderHistoryRow.__table__
_COLUMNS = [_HISTORY.c[name] for name in HistoryRow._fields]


def micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


async def ended_order(database: AsyncEngine, user_id: str, order_id: str) -> HistoryRow | None:
    """The user's ended order ``order_id``, if there is one."""
    query = select(*_COLUMNS).where(_HISTORY.c.id == order_id, _HISTORY.c.user_id == user_id)
    async with database.connect() as connection:
        row = (await connection.execute(query)).one_or_none()
    return None if row is None else HistoryRow(*row)


async def order_history_page(
    database: AsyncEngine, user_id: str, after: tuple[datetime, str] | None, limit: int
) -> list[HistoryRow]:
    """Up to ``limit`` of the user's ended orders, newest first (by end time, then order
    id), after the ``(ended at, order id)`` of the previous page's last; only the user's."""
    query = select(*_COLUMNS).where(_HISTORY.c.user_id == user_id)
    if after is not None:
        query = query.where(tuple_(_HISTORY.c.ended_at, _HISTORY.c.id) < after)
    query = query.order_by(_HISTORY.c.ended_at.desc(), _HISTORY.c.id.desc()).limit(limit)
    async with database.connect() as connection:
        return [HistoryRow(*row) for row in (await connection.execute(query)).all()]
