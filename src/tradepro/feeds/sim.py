"""A simulated price feed: a seeded geometric random walk per asset, quoted with a spread.

For offline demos and tests only (``--feed sim``). The walk runs on floats internally, but
every emitted bid and ask is an exact positive integer of ticks (``10**-price_decimals``
USD) with ``bid < ask``. All randomness comes from the ``random.Random`` passed in, so a
seed reproduces the same quotes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import NamedTuple

from tradepro.domain.fixed import format_scaled, parse_scaled
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS, Instrument

START_PRICES: Mapping[str, str] = {
    "BTC_USDC": "95000",
    "ETH_USDC": "3500",
    "SOL_USDC": "180",
}
"""Where each walk starts, in USD (decimal strings, parsed at the instrument's scale)."""

FALLBACK_START_PRICE = "100"
"""Start price for a symbol missing from ``start_prices``."""

DEFAULT_VOLATILITY_BPS = 1.0
"""Standard deviation of one step's log-return, in basis points (about BTC at 10 steps/s)."""

DEFAULT_SPREAD_BPS = 0.5
"""Typical spread in basis points; each quote draws 0.5x to 1.5x of it, at least one tick."""

_BASIS_POINTS = 10_000.0


class SimulatedQuote(NamedTuple):
    """A top-of-book quote in integer ticks: ``0 < bid < ask``."""

    asset: str
    bid: int
    ask: int


class SimulatedFeed:
    """One random walk per instrument; ``step()`` advances them all and quotes each once."""

    def __init__(
        self,
        rng: random.Random,
        instruments: Mapping[str, Instrument] = DEFAULT_INSTRUMENTS,
        *,
        start_prices: Mapping[str, str] = START_PRICES,
        volatility_bps: float = DEFAULT_VOLATILITY_BPS,
        spread_bps: float = DEFAULT_SPREAD_BPS,
    ) -> None:
        if not (math.isfinite(volatility_bps) and volatility_bps >= 0):
            raise ValueError("volatility_bps must be a finite number >= 0")
        if not (math.isfinite(spread_bps) and spread_bps >= 0):
            raise ValueError("spread_bps must be a finite number >= 0")
        self.instruments = instruments
        self._rng = rng
        self._sigma = volatility_bps / _BASIS_POINTS
        self._spread = spread_bps / _BASIS_POINTS
        self._mids: dict[str, float] = {}
        """Mid price per asset in (fractional) ticks: the walk's state, never emitted."""
        for symbol, instrument in instruments.items():
            start = start_prices.get(symbol, FALLBACK_START_PRICE)
            ticks = parse_scaled(start, instrument.price_decimals, f"start price of {symbol}")
            self._mids[symbol] = float(ticks)

    def step(self) -> list[SimulatedQuote]:
        """Advance every walk one step and return one quote per asset, in table order."""
        return [self._advance(symbol) for symbol in self._mids]

    def step_payloads(self) -> list[dict[str, object]]:
        """``step()`` rendered as ``price-update`` payloads."""
        return [self.payload(quote) for quote in self.step()]

    def payload(self, quote: SimulatedQuote) -> dict[str, object]:
        """A ``price-update`` payload: decimal strings, marked ``simulated``."""
        decimals = self.instruments[quote.asset].price_decimals
        return {
            "asset": quote.asset,
            "bid": format_scaled(quote.bid, decimals),
            "ask": format_scaled(quote.ask, decimals),
            "simulated": True,
        }

    def _advance(self, symbol: str) -> SimulatedQuote:
        rng = self._rng
        # Geometric: the mid stays positive and moves in proportion to its level.
        mid = max(self._mids[symbol] * math.exp(self._sigma * rng.gauss(0.0, 1.0)), 1.0)
        self._mids[symbol] = mid
        spread = max(1, round(mid * self._spread * rng.uniform(0.5, 1.5)))
        bid = max(1, math.floor(mid - spread / 2))
        return SimulatedQuote(symbol, bid, bid + spread)


__all__ = [
    "DEFAULT_SPREAD_BPS",
    "DEFAULT_VOLATILITY_BPS",
    "START_PRICES",
    "SimulatedFeed",
    "SimulatedQuote",
]
