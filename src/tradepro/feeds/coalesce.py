"""Latest quote per symbol, waiting to be published: bursts coalesce, each symbol is paced.

A feed can deliver quotes faster than the engine should take them (a hot market, a burst
after a reconnect, an engine that lags or is down). The poller therefore never queues
quotes: it keeps only the newest unpublished quote of each symbol here, and its publisher
takes them out when it can. A quote that arrives while an older one of the same symbol is
still waiting replaces it (counted as coalesced), so the number of pending quotes is at
most the number of symbols, whatever the input rate.

Each symbol is also paced: ``take_ready`` hands out a symbol's quote only when at least
``1 / max_rate_per_s`` seconds have passed since that symbol was last handed out, so a hot
feed cannot flood ``engine-stream``. Time is passed in (seconds of a monotonic clock), so
this class is pure and tested without sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

_CLOCK_SLACK_S = 1e-9
"""Float subtraction of clock readings is inexact; this much early counts as on time."""


class FeedQuote(NamedTuple):
    """A quote the poller may publish: prices in integer ticks of the instrument."""

    asset: str
    bid: int
    ask: int
    received_us: int
    """Wall-clock time the poller received (or, for the simulated feed, made) it."""
    simulated: bool


class LatestQuotes:
    """The newest unpublished quote of each symbol, handed out at most ``max_rate_per_s``."""

    def __init__(self, max_rate_per_s: float) -> None:
        if not (math.isfinite(max_rate_per_s) and max_rate_per_s > 0):
            raise ValueError("max_rate_per_s must be a finite number > 0")
        self.min_interval_s = 1.0 / max_rate_per_s
        self._due_after_s = self.min_interval_s - _CLOCK_SLACK_S
        self._pending: dict[str, FeedQuote] = {}
        self._last_taken_s: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def offer(self, quote: FeedQuote) -> bool:
        """Keep ``quote`` as its symbol's latest; True if it replaced an unpublished one
        (that one is then coalesced away: it will never be published)."""
        replaced = quote.asset in self._pending
        self._pending[quote.asset] = quote
        return replaced

    def take_ready(self, now_s: float) -> list[FeedQuote]:
        """Remove and return the pending quotes whose symbol may be published at ``now_s``."""
        ready = [
            quote
            for asset, quote in self._pending.items()
            if now_s - self._last_taken_s.get(asset, -math.inf) >= self._due_after_s
        ]
        for quote in ready:
            del self._pending[quote.asset]
            self._last_taken_s[quote.asset] = now_s
        return ready

    def seconds_until_ready(self, now_s: float) -> float | None:
        """How long until ``take_ready`` returns something; None when nothing is pending."""
        if not self._pending:
            return None
        earliest = min(
            self._last_taken_s.get(asset, -math.inf) + self._due_after_s for asset in self._pending
        )
        return max(0.0, earliest - now_s)

    def restore(self, quotes: Iterable[FeedQuote]) -> list[FeedQuote]:
        """Put back quotes that could not be published, unless a newer one arrived since;
        return those superseded ones (coalesced away)."""
        superseded = []
        for quote in quotes:
            if quote.asset in self._pending:
                superseded.append(quote)
            else:
                self._pending[quote.asset] = quote
        return superseded

    def peek(self, asset: str) -> FeedQuote | None:
        """The pending quote of ``asset``, if any (for status and tests)."""
        return self._pending.get(asset)


__all__ = ["FeedQuote", "LatestQuotes"]
