"""A day of simulated one-minute candles, so a fresh offline install has a chart to read.

On its first run the simulated feed has no history: the 5m, 15m and 1h charts would show a
single candle. ``simulated_history`` generates ``minutes`` one-minute candles per asset
ending just before ``end_s``, from a seeded random walk (the same volatility as the live
simulated feed), shifted so its last close is where the live walk starts: the chart runs on
without a jump. Every candle is marked ``simulated`` and ``backfill`` and counts no quotes,
so nobody can take it for recorded prices. The same seed and ``end_s`` give the same
candles. The walk runs on floats like the live one; every stored price is an exact integer
number of ticks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from tradepro.domain.candles import Candle
from tradepro.domain.fixed import parse_scaled
from tradepro.domain.instruments import Instrument
from tradepro.feeds.candles import MINUTE_S
from tradepro.feeds.sim import DEFAULT_VOLATILITY_BPS, FALLBACK_START_PRICE, START_PRICES

DAY_MINUTES = 24 * 60
STEPS_PER_MINUTE = 12
"""Points of the walk inside each minute (its high and low come from them)."""
LIVE_STEPS_PER_MINUTE = 600
"""The live simulated feed's default: 10 steps a second."""


def simulated_history(
    seed: int,
    instruments: Mapping[str, Instrument],
    end_s: int,
    *,
    minutes: int = DAY_MINUTES,
    start_prices: Mapping[str, str] = START_PRICES,
) -> list[Candle]:
    """``minutes`` backfill candles per asset, the last one starting at ``end_s - 60``
    (``end_s`` a multiple of 60), oldest first; deterministic for ``seed`` and ``end_s``."""
    if end_s % MINUTE_S:
        raise ValueError("end_s must be the first second of a minute")
    rng = random.Random(f"backfill:{seed}:{end_s}")
    step_sigma = (
        DEFAULT_VOLATILITY_BPS / 10_000 * math.sqrt(LIVE_STEPS_PER_MINUTE / STEPS_PER_MINUTE)
    )
    first_s = end_s - minutes * MINUTE_S
    candles: list[Candle] = []
    for symbol, instrument in instruments.items():
        start = start_prices.get(symbol, FALLBACK_START_PRICE)
        last_ticks = parse_scaled(start, instrument.price_decimals, f"start price of {symbol}")
        path = _log_walk(rng, minutes * STEPS_PER_MINUTE, step_sigma)
        shift = math.log(last_ticks) - path[-1]  # the walk ends where the live feed begins
        ticks = [max(1, round(math.exp(point + shift))) for point in path]
        for minute in range(minutes):
            points = ticks[minute * STEPS_PER_MINUTE : (minute + 1) * STEPS_PER_MINUTE + 1]
            candles.append(
                Candle(
                    symbol,
                    first_s + minute * MINUTE_S,
                    points[0],
                    max(points),
                    min(points),
                    points[-1],
                    quotes=0,
                    simulated=True,
                    backfill=True,
                )
            )
    candles.sort(key=lambda candle: (candle.start_s, candle.asset))
    return candles


def _log_walk(rng: random.Random, steps: int, sigma: float) -> list[float]:
    """``steps + 1`` points of a Gaussian walk from 0 (log-prices: a geometric walk)."""
    points = [0.0]
    for _ in range(steps):
        points.append(points[-1] + sigma * rng.gauss(0.0, 1.0))
    return points


__all__ = ["DAY_MINUTES", "simulated_history"]
