"""Candles: OHLC of the mid price in integer ticks, one shape wherever they travel (the
poller's aggregation, the stored rows, the candles route)."""

from __future__ import annotations

from typing import NamedTuple


class Candle(NamedTuple):
    """OHLC of the mid in integer ticks, for one asset and one interval (a minute as it is
    aggregated and stored; wider ones as the candles route builds them from minutes)."""

    asset: str
    start_s: int
    open: int
    high: int
    low: int
    close: int
    quotes: int
    simulated: bool
    backfill: bool = False
    """Generated history (the simulated feed's first-run backfill), not recorded quotes."""
