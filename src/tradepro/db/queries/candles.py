"""Candles of the recorded quotes: the one-minute rows, and wider candles built from them.

A page of candles reads a page of rows, wherever it is in the asset's history: the rows
come from the primary key ``(asset, start_s)`` as one range from the end the window takes
from, and a wider candle's group-by only sees the rows that can belong to the page's
candles (a candle of ``width_s`` holds at most ``width_s / 60`` minute rows), not every
minute recorded before ``before``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.models import Candle as CandleRow
from tradepro.domain.candles import Candle

MINUTE_S = 60
"""The width of a stored row."""


class Window(NamedTuple):
    """Which candles to read, in minute-row seconds aligned to the interval."""

    first_s: int | None
    """Inclusive lower bound of the candles' start."""
    end_s: int | None
    """Exclusive upper bound of the candles' start."""
    forward: bool
    """Take the earliest ``limit`` candles (else the latest)."""
    limit: int


async def read_candles(
    database: AsyncEngine, asset: str, width_s: int, window: Window
) -> list[Candle]:
    """Candles of ``width_s`` seconds built exactly from the one-minute rows, oldest first:
    open of the first minute, close of the last, the highest high, the lowest low."""
    table = CandleRow.__table__
    minute = table.c.start_s
    if width_s == MINUTE_S:
        rows_query = select(
            minute, table.c.open, table.c.high, table.c.low, table.c.close,
            table.c.quotes, table.c.simulated, table.c.backfill,
        )  # fmt: skip
        query = _bounded(rows_query.where(table.c.asset == asset), minute, window, window.limit)
        async with database.connect() as connection:
            rows = (await connection.execute(query)).all()
        found = [
            Candle(
                asset,
                row.start_s,
                row.open,
                row.high,
                row.low,
                row.close,
                row.quotes,
                bool(row[6]),
                bool(row[7]),
            )
            for row in rows
        ]
        return found if window.forward else found[::-1]

    # The window's nearest `limit` candles lie within its nearest `limit * width_s / 60`
    # minute rows: the fewer rows there are, the fewer candles they spread over, and every
    # candle but the farthest of them is whole.
    minutes = select(
        minute, table.c.high, table.c.low, table.c.quotes, table.c.simulated, table.c.backfill
    )
    most_minutes = window.limit * (width_s // MINUTE_S)
    in_window = _bounded(minutes.where(table.c.asset == asset), minute, window, most_minutes)
    nearest = in_window.subquery("nearest")
    start = nearest.c.start_s
    bucket = (start - start % width_s).label("bucket")
    grouped = select(
        bucket,
        func.min(start).label("first_s"),
        func.max(start).label("last_s"),
        func.max(nearest.c.high),
        func.min(nearest.c.low),
        func.sum(nearest.c.quotes),
        func.max(case((nearest.c.simulated, 1), else_=0)),
        func.max(case((nearest.c.backfill, 1), else_=0)),
    ).group_by(bucket)
    query = grouped.order_by(_toward_end(bucket, window)).limit(window.limit)
    async with database.connect() as connection:
        groups = (await connection.execute(query)).all()
        edge_minutes = {group.first_s for group in groups} | {group.last_s for group in groups}
        edges_query = select(minute, table.c.open, table.c.close).where(
            table.c.asset == asset, minute.in_(sorted(edge_minutes))
        )
        edges = {row.start_s: row for row in (await connection.execute(edges_query)).all()}
    found = [
        Candle(
            asset=asset,
            start_s=int(group.bucket),
            open=edges[group.first_s].open,
            high=group[3],
            low=group[4],
            close=edges[group.last_s].close,
            quotes=int(group[5]),
            simulated=bool(group[6]),
            backfill=bool(group[7]),
        )
        for group in groups
    ]
    return found if window.forward else found[::-1]


def _bounded(query: Select[Any], minute: Any, window: Window, limit: int) -> Select[Any]:
    """``query``'s rows in the window, the ``limit`` nearest the end the window takes from."""
    if window.first_s is not None:
        query = query.where(minute >= window.first_s)
    if window.end_s is not None:
        query = query.where(minute < window.end_s)
    return query.order_by(_toward_end(minute, window)).limit(limit)


def _toward_end(key: Any, window: Window) -> Any:
    """Ordered from the end the window takes from: the earliest first when it goes
    forward, else the latest first."""
    return key.asc() if window.forward else key.desc()
