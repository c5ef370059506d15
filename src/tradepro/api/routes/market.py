"""Market data: candles of the recorded quotes, and the instrument table. Public.

Both are public on purpose: prices are public market data (the exchange publishes them to
anyone, and the WebSocket server streams them to every client without a session), and the
instrument table is the trading rules every client must know before it may sign in. Neither
reveals anything about a user.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from tradepro.api.deps import Context
from tradepro.api.errors import ApiError
from tradepro.api.schemas import CandlesOut, ErrorOut, InstrumentsOut
from tradepro.db.queries.candles import MINUTE_S, Window, read_candles
from tradepro.domain.fixed import format_scaled

router = APIRouter(prefix="/api/v1", tags=["market"])
ERRORS: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut}}

Interval = Literal["1m", "5m", "15m", "1h"]
INTERVAL_S: dict[str, int] = {"1m": MINUTE_S, "5m": 300, "15m": 900, "1h": 3600}
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
                "backfill": candle.backfill,
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
                "commissionBps": instrument.commission_bps,
                "maintenanceMarginBps": maintenance_bps,
            }
            for instrument in context.settings.instruments.values()
        ]
    }


def _ceil_to(seconds: int, width_s: int) -> int:
    """The first multiple of ``width_s`` at or after ``seconds``: a candle starting before
    it ends before it too, so bounds on candles become bounds on their minute rows."""
    return -(-seconds // width_s) * width_s
