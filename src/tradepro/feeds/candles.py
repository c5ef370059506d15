"""One-minute candles of the mid price, aggregated in memory between database flushes.

The mid is ``(bid + ask) / 2`` rounded half to even to the instrument's ticks (the rule of
the ``candles`` table). A minute is keyed by its first second (``start_s``, a multiple of
60 of the quote's wall-clock time). The aggregator holds only what changed since the last
``drain``: a partial candle per (asset, minute). The database merges a partial candle into
the stored row exactly as ``merge`` merges two partial candles here (open kept, high and
low widened, close replaced, quote counts added, simulated if either was), so a minute
that spans two flushes ends up the same as if it had been flushed once. A flush that
fails hands its candles back with ``restore``, which merges them in front of anything
newer, so nothing is lost or reordered while the database is away.
"""

from __future__ import annotations

from collections.abc import Iterable

from tradepro.domain.candles import Candle
from tradepro.domain.fixed import div_round_half_even

MINUTE_S = 60
MAX_PENDING_CANDLES = 100_000
"""Memory bound while the database is down (about 23 days of 3 assets); beyond it the
oldest pending minutes are dropped, and counted."""


def mid_ticks(bid: int, ask: int) -> int:
    """The mid price in ticks, rounded half to even: ``(bid + ask) / 2``."""
    return div_round_half_even(bid + ask, 2)


def minute_start_s(ts_us: int) -> int:
    """The first second of the minute holding ``ts_us`` (microseconds since the epoch)."""
    seconds = ts_us // 1_000_000
    return seconds - seconds % MINUTE_S


def merge(earlier: Candle, later: Candle) -> Candle:
    """Two partial candles of the same asset and minute, ``earlier`` first, as one."""
    return earlier._replace(
        high=max(earlier.high, later.high),
        low=min(earlier.low, later.low),
        close=later.close,
        quotes=earlier.quotes + later.quotes,
        simulated=earlier.simulated or later.simulated,
    )


class CandleAggregator:
    """Partial candles since the last ``drain``, keyed by (asset, minute)."""

    def __init__(self, max_pending: int = MAX_PENDING_CANDLES) -> None:
        self.max_pending = max_pending
        self._pending: dict[tuple[str, int], Candle] = {}
        self.discarded = 0
        """Partial candles dropped because ``max_pending`` was reached."""

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, asset: str, bid: int, ask: int, ts_us: int, simulated: bool) -> None:
        """Count one quote (prices in ticks) into its minute's candle."""
        mid = mid_ticks(bid, ask)
        key = (asset, minute_start_s(ts_us))
        current = self._pending.get(key)
        if current is None:
            self._pending[key] = Candle(asset, key[1], mid, mid, mid, mid, 1, simulated)
            self._bound()
            return
        self._pending[key] = current._replace(
            high=max(current.high, mid),
            low=min(current.low, mid),
            close=mid,
            quotes=current.quotes + 1,
            simulated=current.simulated or simulated,
        )

    def drain(self) -> list[Candle]:
        """Hand out every partial candle (oldest minute first) and start afresh."""
        candles = sorted(self._pending.values(), key=lambda candle: (candle.start_s, candle.asset))
        self._pending = {}
        return candles

    def restore(self, candles: Iterable[Candle]) -> None:
        """Take back drained candles that were not saved; they come before anything newer."""
        newer, self._pending = self._pending, {}
        for candle in candles:
            self._pending[(candle.asset, candle.start_s)] = candle
        for key, candle in newer.items():
            earlier = self._pending.get(key)
            self._pending[key] = candle if earlier is None else merge(earlier, candle)
        self._bound()

    def _bound(self) -> None:
        excess = len(self._pending) - self.max_pending
        if excess <= 0:
            return
        oldest = sorted(self._pending, key=lambda key: key[1])[:excess]
        for key in oldest:
            del self._pending[key]
        self.discarded += excess


__all__ = ["Candle", "CandleAggregator", "merge", "mid_ticks", "minute_start_s"]
