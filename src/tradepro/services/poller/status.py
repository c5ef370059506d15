"""What the poller reports about itself: counters, a status line, Prometheus metrics.

``PollerStats`` is plain counters updated on the event loop (no locks, no per-quote
metric objects on the hot path). ``StatsCollector`` turns them into Prometheus metrics
when ``/metrics`` is scraped (from the metrics server's thread: it only reads ints from
dicts whose keys are all created up front). ``DropWarnings`` logs dropped messages
without flooding the log: the first of each reason at once, then a count every
``every_s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tradepro.feeds.backpack import Dropped, DropReason

log = logging.getLogger("tradepro.poller")


def _zeros(keys: Sequence[str]) -> dict[str, int]:
    return dict.fromkeys(keys, 0)


class CandleCounts(Protocol):
    """The candle recorder's counters (``candle_store.CandleRecorder``)."""

    saved: int
    failures: int

    def pending(self) -> int: ...


@dataclass
class PollerStats:
    """Counters of one poller process, per asset where that helps."""

    feed: str
    assets: tuple[str, ...]
    connected: bool = False
    """The feed is up: a subscribed Backpack connection, or the simulated feed running."""
    holding: bool = False
    """The engine does not answer: quotes are held (latest per symbol), none published."""
    reconnects: int = 0
    publish_failures: int = 0
    candles: CandleCounts | None = None
    received: dict[str, int] = field(default_factory=dict)
    published: dict[str, int] = field(default_factory=dict)
    coalesced: dict[str, int] = field(default_factory=dict)
    expired: dict[str, int] = field(default_factory=dict)
    """Held quotes discarded because they grew older than the engine's price age limit."""
    dropped: dict[str, int] = field(default_factory=lambda: _zeros([r.value for r in DropReason]))
    last_quote_us: dict[str, int | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for counts in (self.received, self.published, self.coalesced, self.expired):
            counts.update(_zeros(self.assets))
        self.last_quote_us.update(dict.fromkeys(self.assets))

    def quote_age_s(self, asset: str, now_us: int) -> float | None:
        last = self.last_quote_us.get(asset)
        return None if last is None else max(0.0, (now_us - last) / 1e6)

    def status_line(self, now_us: int) -> str:
        """One line for the log: connection, engine, and per asset age and counts."""
        parts = []
        for asset in self.assets:
            age = self.quote_age_s(asset, now_us)
            parts.append(
                f"{asset} age={'-' if age is None else f'{age:.1f}s'} "
                f"received={self.received[asset]} published={self.published[asset]} "
                f"coalesced={self.coalesced[asset]}"
            )
        dropped = " ".join(f"{reason}={count}" for reason, count in self.dropped.items())
        return (
            f"status: feed={self.feed} connected={'yes' if self.connected else 'no'} "
            f"engine={'HOLDING' if self.holding else 'ok'} | {' | '.join(parts)} | "
            f"dropped {dropped} | {self._candle_status()}"
        )

    def _candle_status(self) -> str:
        if self.candles is None:
            return "candles off"
        return f"candles saved={self.candles.saved} pending={self.candles.pending()}"


class StatsCollector(Collector):
    """Prometheus view of ``PollerStats``, computed at scrape time."""

    def __init__(self, stats: PollerStats, clock_us: Callable[[], int]) -> None:
        self.stats = stats
        self.clock_us = clock_us

    def collect(self) -> Iterator[Metric]:
        stats = self.stats
        yield _gauge("connected", "1 while the price feed is connected", stats.connected)
        yield _gauge("engine_holding", "1 while quotes are held for the engine", stats.holding)
        yield _counter("reconnects", "feed connections after the first", stats.reconnects)
        yield _per_asset("quotes_received", "valid quotes received", stats.received)
        yield _per_asset("quotes_published", "price-update entries published", stats.published)
        yield _per_asset("quotes_coalesced", "quotes replaced by a newer one", stats.coalesced)
        yield _per_asset("quotes_expired", "held quotes discarded as too old", stats.expired)
        dropped = CounterMetricFamily(
            "tradepro_poller_messages_dropped", "feed messages dropped", labels=["reason"]
        )
        for reason, count in dict(stats.dropped).items():
            dropped.add_metric([reason], count)
        yield dropped
        age = GaugeMetricFamily(
            "tradepro_poller_last_quote_age_seconds",
            "seconds since the last valid quote",
            labels=["asset"],
        )
        now_us = self.clock_us()
        for asset in stats.assets:
            seconds = stats.quote_age_s(asset, now_us)
            if seconds is not None:
                age.add_metric([asset], seconds)
        yield age
        yield _counter("publish_failures", "publishes that failed", stats.publish_failures)
        candles = stats.candles
        if candles is not None:
            yield _counter("candles_saved", "candle rows upserted", candles.saved)
            yield _counter("candle_flush_failures", "failed candle flushes", candles.failures)
            yield _gauge("candles_pending", "candles not yet in the database", candles.pending())


def _gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(f"tradepro_poller_{name}", documentation, value=float(value))


def _counter(name: str, documentation: str, value: int) -> Metric:
    return CounterMetricFamily(f"tradepro_poller_{name}", documentation, value=value)


def _per_asset(name: str, documentation: str, counts: dict[str, int]) -> Metric:
    family = CounterMetricFamily(f"tradepro_poller_{name}", documentation, labels=["asset"])
    for asset, count in dict(counts).items():
        family.add_metric([asset], count)
    return family


class DropWarnings:
    """Logs dropped messages: the first of each reason at once, then one line per window."""

    def __init__(self, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._unreported: dict[str, int] = {}
        self._next_report: dict[str, float] = {}

    def note(self, dropped: Dropped) -> None:
        reason = dropped.reason.value
        now = self.clock()
        if now < self._next_report.get(reason, -1.0):
            self._unreported[reason] = self._unreported.get(reason, 0) + 1
            return
        earlier = self._unreported.pop(reason, 0)
        also = f" (and {earlier} more since the last report)" if earlier else ""
        log.warning("dropped a feed message (%s): %s%s", reason, dropped.detail, also)
        self._next_report[reason] = now + self.every_s


__all__ = ["DropWarnings", "PollerStats", "StatsCollector"]
