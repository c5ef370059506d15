"""Closed trades (``existing_trades``) as the API reads them: one by id, or a page of a
user's history, newest first, optionally filtered (asset, side, reason, close time).

A page is found by keyset, never by offset: the rows after the previous page's last
``(closed_at, id)``, written as one row comparison ``(closed_at, id) < (:t, :id)``. With the
user's id it is a range of the index ``(user_id, closed_at DESC, id DESC)``, so the database
starts the scan at the cursor and reads one page of rows however deep the page is (the
same condition as ``closed_at < :t OR (closed_at = :t AND id < :id)``, which both
databases apply as a filter after reading every newer row of the user). SQLite has row
values since 3.15; ``tests/integration/db/test_history_pages.py`` checks the plans.

Filters keep that shape: ``from``/``to`` bound ``closed_at``, the index's second column,
so they narrow the same range; asset, side and reason are checked on the rows the range
reads (a filter that matches few trades reads more rows for a page, never the user's whole
history at once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.models import ExistingTrade


class TradeRow(NamedTuple):
    """One closed trade, amounts as stored (integer ticks, lots and cents)."""

    id: str
    user_id: str
    asset: str
    side: str
    quantity: int
    leverage: int
    open_price: int
    close_price: int
    pnl: int
    margin: int
    liquidation_price: int
    take_profit: int | None
    stop_loss: int | None
    slippage: int | None
    reason: str
    liquidated: bool
    created_at: datetime
    closed_at: datetime
    commission: int = 0
    order_id: str | None = None
    """A partial close's position; None: the trade's ``id`` is the order id."""


class TradeFilter(NamedTuple):
    """Which trades a history read keeps (None: any); ``closed_from`` is inclusive,
    ``closed_to`` exclusive."""

    asset: str | None = None
    side: str | None = None
    reason: str | None = None
    closed_from: datetime | None = None
    closed_to: datetime | None = None

    def keeps(self, asset: str, side: str, reason: str, closed_at: datetime) -> bool:
        """The same test in Python (for trades not written yet)."""
        return (
            self.asset in (None, asset)
            and self.side in (None, side)
            and self.reason in (None, reason)
            and (self.closed_from is None or closed_at >= self.closed_from)
            and (self.closed_to is None or closed_at < self.closed_to)
        )


ANY_TRADE = TradeFilter()

_TRADES = ExistingTrade.__table__
_COLUMNS = [_TRADES.c[name] for name in TradeRow._fields]


async def closed_trade(database: AsyncEngine, user_id: str, order_id: str) -> TradeRow | None:
    """The user's closed trade of ``order_id``, if there is one."""
    query = select(*_COLUMNS).where(_TRADES.c.id == order_id, _TRADES.c.user_id == user_id)
    async with database.connect() as connection:
        row = (await connection.execute(query)).one_or_none()
    return None if row is None else TradeRow(*row)


async def closed_trades_page(
    database: AsyncEngine,
    user_id: str,
    after: tuple[datetime, str] | None,
    limit: int,
    kept: TradeFilter = ANY_TRADE,
) -> list[TradeRow]:
    """Up to ``limit`` of the user's closed trades that ``kept`` keeps, newest first (by
    close time, then order id), starting after the ``(closed at, order id)`` of the
    previous page's last.

    ``after`` is only a position in the user's own rows: whatever it is, the rows come
    from ``user_id``'s history alone."""
    if after is not None and kept.closed_to is not None:
        # One upper bound on ``closed_at``, whichever is lower: the other is implied, and a
        # database that sees both may range over ``from``..``to`` and filter the cursor.
        if after[0] < kept.closed_to:
            kept = kept._replace(closed_to=None)
        else:
            after = None
    query = _filtered(select(*_COLUMNS).where(_TRADES.c.user_id == user_id), kept)
    if after is not None:
        query = query.where(tuple_(_TRADES.c.closed_at, _TRADES.c.id) < after)
    query = query.order_by(_TRADES.c.closed_at.desc(), _TRADES.c.id.desc()).limit(limit)
    async with database.connect() as connection:
        return [TradeRow(*row) for row in (await connection.execute(query)).all()]


Query = TypeVar("Query", bound=Select[Any])


def _filtered(query: Query, kept: TradeFilter) -> Query:
    columns = _TRADES.c
    for column, value in (
        (columns.asset, kept.asset),
        (columns.side, kept.side),
        (columns.reason, kept.reason),
    ):
        if value is not None:
            query = query.where(column == value)
    if kept.closed_from is not None:
        query = query.where(columns.closed_at >= kept.closed_from)
    if kept.closed_to is not None:
        query = query.where(columns.closed_at < kept.closed_to)
    return query
