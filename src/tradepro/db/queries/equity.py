"""What an equity curve is rebuilt from: a user's sign-up, closed trades and the recorded
prices (``tradepro.domain.equity`` does the arithmetic).

Every read is bounded by the user's own rows or by the points asked for, whatever the
other users hold:

- the trades are one range of the index ``(user_id, closed_at DESC, id DESC)``: the sum of
  those closed before the first point (one aggregate), then those closed after it, read
  in keyset batches (oldest first) and handed out batch by batch;
- deposits and resets (``ledger_entries``) are one range of the index ``(user_id,
  created_at, id)``: one aggregate before the first point, then each one after it;
- a price per point and asset is one seek of the candles' primary key ``(asset, start_s)``
  (the latest minute that ended by the point), all of an asset's points in one statement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.models import ExistingTrade, LedgerEntryRow, User
from tradepro.db.queries.trades import TradeRow

TRADE_BATCH = 1000
"""Rows per read: each batch is walked between two awaits, so the API process serves
other requests between batches (about 10 ms of walking per 1,000 trades)."""
LEDGER_BATCH = 1000
_LEDGER = LedgerEntryRow.__table__
_TRADES = ExistingTrade.__table__
_COLUMNS = [_TRADES.c[name] for name in TradeRow._fields]

# A point t takes the close of the latest minute [start_s, start_s + 60) that ended by t.
_CLOSES_AT_POINTS = text(
    """
WITH RECURSIVE points(t) AS (
    SELECT CAST(:first_s AS BIGINT)
    UNION ALL
    SELECT t + :step_s FROM points WHERE t + :step_s <= :last_s
)
SELECT points.t, (
    SELECT candles.close FROM candles
    WHERE candles.asset = :asset AND candles.start_s <= points.t - 60
    ORDER BY candles.start_s DESC LIMIT 1
) FROM points ORDER BY points.t
"""
)


async def signed_up_at(database: AsyncEngine, user_id: str) -> datetime | None:
    """When the user's row was made (sign-up); None for an unknown user."""
    query = select(User.created_at).where(User.id == user_id)
    async with database.connect() as connection:
        return (await connection.execute(query)).scalar_one_or_none()


async def realized_before(database: AsyncEngine, user_id: str, before: datetime) -> int:
    """Cents: the sum of PnL less commission of the user's trades closed before ``before``."""
    query = select(func.coalesce(func.sum(ExistingTrade.pnl - ExistingTrade.commission), 0)).where(
        ExistingTrade.user_id == user_id, ExistingTrade.closed_at < before
    )
    async with database.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def trades_closed_since(
    database: AsyncEngine, user_id: str, since: datetime, opened_before: datetime
) -> AsyncIterator[list[TradeRow]]:
    """The user's trades closed at or after ``since`` and opened before ``opened_before``,
    oldest close first, in batches of at most ``TRADE_BATCH``."""
    columns = _TRADES.c
    base = (
        select(*_COLUMNS)
        .where(
            columns.user_id == user_id,
            columns.closed_at >= since,
            columns.created_at < opened_before,
        )
        .order_by(columns.closed_at, columns.id)
        .limit(TRADE_BATCH)
    )
    after: tuple[datetime, str] | None = None
    while True:
        query = base if after is None else base.where(tuple_(columns.closed_at, columns.id) > after)
        async with database.connect() as connection:
            rows = [TradeRow(*row) for row in (await connection.execute(query)).all()]
        if rows:
            yield rows
        if len(rows) < TRADE_BATCH:
            return
        after = (rows[-1].closed_at, rows[-1].id)


async def closes_at_points(
    database: AsyncEngine, asset: str, first_s: int, step_s: int, last_s: int
) -> list[int | None]:
    """For each point ``first_s, first_s + step_s, ... <= last_s``: the close (ticks) of
    ``asset``'s latest one-minute candle that ended by it (None if there is none)."""
    parameters = {"first_s": first_s, "step_s": step_s, "last_s": last_s, "asset": asset}
    async with database.connect() as connection:
        rows = (await connection.execute(_CLOSES_AT_POINTS, parameters)).all()
    return [None if close is None else int(close) for _, close in rows]


async def closes_at(
    database: AsyncEngine, asset: str, points_s: Sequence[int], step_s: int
) -> list[int | None]:
    """``closes_at_points`` for points that are regular but for a last one off the step."""
    if not points_s:
        return []
    regular = list(points_s)
    extra = None
    if len(regular) > 1 and regular[-1] - regular[-2] != step_s:
        extra = regular.pop()
    closes = await closes_at_points(database, asset, regular[0], step_s, regular[-1])
    if extra is not None:
        closes += await closes_at_points(database, asset, extra, step_s, extra)
    return closes


async def deposited_before(database: AsyncEngine, user_id: str, before: datetime) -> int:
    """Cents: what the user's deposits and resets added to the balance before ``before``."""
    query = select(func.coalesce(func.sum(_LEDGER.c.amount), 0)).where(
        _LEDGER.c.user_id == user_id, _LEDGER.c.created_at < before
    )
    async with database.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def deposits_since(
    database: AsyncEngine, user_id: str, since: datetime
) -> AsyncIterator[list[tuple[datetime, int]]]:
    """The user's deposits and resets at or after ``since`` as (time, cents added), oldest
    first, in keyset batches of at most ``LEDGER_BATCH``."""
    columns = _LEDGER.c
    base = (
        select(columns.created_at, columns.id, columns.amount)
        .where(columns.user_id == user_id, columns.created_at >= since)
        .order_by(columns.created_at, columns.id)
        .limit(LEDGER_BATCH)
    )
    after: tuple[datetime, str] | None = None
    while True:
        query = base if after is None else base.where(
            tuple_(columns.created_at, columns.id) > tuple_(*after)
        )  # fmt: skip
        async with database.connect() as connection:
            rows = (await connection.execute(query)).all()
        if not rows:
            return
        yield [(created_at, amount) for created_at, _, amount in rows]
        if len(rows) < LEDGER_BATCH:
            return
        after = (rows[-1][0], rows[-1][1])
