"""Market data: candles of the recorded quotes, and the instrument table. Public.

Both are public on purpose: prices are public market data (the exchange publishes them to
anyone, and the WebSocket server streams them to every client without a session), and the
instrument table is the trading rules every client must know before it may sign in. Neither
reveals anything about a user.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple

from fastapi import APIRouter, Query
from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.api.deps import Context
from tradepro.api.errors import ApiError
from tradepro.api.schemas import CandlesOut, ErrorOut, InstrumentsOut
from tradepro.db.models import Candle as CandleRow
from tradepro.domain.fixed import format_scaled
from tradepro.feeds.candles import Candle

router = APIRouter(prefix="/api/v1", tags=["market"])
ERRORS: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut}}

Interval = Literal["1m", "5m", "15m", "1h"]
INTERVAL_S: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600}
"""Each interval's width in seconds; every one is a whole number of stored minutes."""
DEFAULT_LIMIT = 300
MAX_LIMIT = 1000
MAX_TIME_S = 10**11
"""Bounds ``before``/``since`` (about the year 5000): keeps the arithmetic in 64 bits."""

EpochSeconds = Annotated[int | None, Query(ge=0, le=MAX_TIME_S)]


@router.get("/candles", response_model=CandlesOut, responses=ERRORS)
async def candles(
    context: Context,
    *,
    asset: Annotated[str, Query(max_length=32, examples=["BTC_USDC"])],
    interval: Interval = "1m",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    before: EpochSeconds = None,
    since: EpochSeconds = None,
) -> dict[str, Any]:
    """Candles of the mid price, oldest first: the latest `limit` before `before` (default
    now), or with `since` the first `limit` from that time on. `time` is epoch seconds."""
    instrument = context.settings.instruments.get(asset)
    if instrument is None:
        known = ", ".join(context.settings.instruments)
        raise ApiError(422, "validation_error", f"asset: unknown asset; known: {known}")
    if before is not None and since is not None and since >= before:
        raise ApiError(422, "validation_error", "since: must be earlier than before")
    width_s = INTERVAL_S[interval]
    window = Window(
        first_s=None if since is None else _ceil_to(since, width_s),
        end_s=None if before is None else _ceil_to(before, width_s),
        forward=since is not None and before is None,
        limit=limit,
    )
    found = await read_candles(context.database, asset, width_s, window)
    decimals = instrument.price_decimals
    return {
        "asset": asset,
        "interval": interval,
        "candles": [
            {
                "time": candle.start_s,
                "open": format_scaled(candle.open, decimals),
                "high": format_scaled(candle.high, decimals),
                "low": format_scaled(candle.low, decimals),
                "close": format_scaled(candle.close, decimals),
                "quotes": candle.quotes,
                "simulated": candle.simulated,
            }
            for candle in found
        ],
    }


@router.get("/instruments", response_model=InstrumentsOut)
async def instruments(context: Context) -> dict[str, Any]:
    """The tradable instruments: scales, leverage cap and maintenance margin."""
    maintenance_bps = context.settings.engine_config().maintenance_margin_bps
    return {
        "instruments": [
            {
                "symbol": instrument.symbol,
                "priceDecimals": instrument.price_decimals,
                "qtyDecimals": instrument.qty_decimals,
                "maxLeverage": instrument.max_leverage,
                "maintenanceMarginBps": maintenance_bps,
            }
            for instrument in context.settings.instruments.values()
        ]
    }


class Window(NamedTuple):
    """Which candles to read, in minute-row seconds aligned to the interval."""

    first_s: int | None
    """Inclusive lower bound of the candles' start."""
    end_s: int | None
    """Exclusive upper bound of the candles' start."""
    forward: bool
    """Take the earliest ``limit`` candles (else the latest)."""
    limit: int


def _ceil_to(seconds: int, width_s: int) -> int:
    """The first multiple of ``width_s`` at or after ``seconds``: a candle starting before
    it ends before it too, so bounds on candles become bounds on their minute rows."""
    return -(-seconds // width_s) * width_s


async def read_candles(
    database: AsyncEngine, asset: str, width_s: int, window: Window
) -> list[Candle]:
    """Candles of ``width_s`` seconds built exactly from the one-minute rows, oldest first:
    open of the first minute, close of the last, the highest high, the lowest low."""
    table = CandleRow.__table__
    minute = table.c.start_s
    if width_s == INTERVAL_S["1m"]:
        rows_query = select(
            minute, table.c.open, table.c.high, table.c.low, table.c.close,
            table.c.quotes, table.c.simulated,
        )  # fmt: skip
        query = _bounded(rows_query.where(table.c.asset == asset), minute, window)
        async with database.connect() as connection:
            rows = (await connection.execute(query)).all()
        found = [
            Candle(
                asset, row.start_s, row.open, row.high, row.low, row.close, row.quotes, bool(row[6])
            )
            for row in rows
        ]
        return found if window.forward else found[::-1]

    bucket = (minute - minute % width_s).label("bucket")
    grouped = select(
        bucket,
        func.min(minute).label("first_s"),
        func.max(minute).label("last_s"),
        func.max(table.c.high),
        func.min(table.c.low),
        func.sum(table.c.quotes),
        func.max(case((table.c.simulated, 1), else_=0)),
    ).where(table.c.asset == asset)
    query = _bounded(grouped, minute, window, order_by=bucket).group_by(bucket)
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
        )
        for group in groups
    ]
    return found if window.forward else found[::-1]


def _bounded(query: Select[Any], minute: Any, window: Window, order_by: Any = None) -> Select[Any]:
    """``query`` limited to the window, ordered from the end the window takes from."""
    if window.first_s is not None:
        query = query.where(minute >= window.first_s)
    if window.end_s is not None:
        query = query.where(minute < window.end_s)
    key = minute if order_by is None else order_by
    return query.order_by(key.asc() if window.forward else key.desc()).limit(window.limit)
