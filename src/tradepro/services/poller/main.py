"""``tradepro poller``: live prices into ``engine-stream``, with one-minute candles on the side.

The feed is Backpack's WebSocket (``BackpackClient``: subscribe ``bookTicker.<SYMBOL>`` for
each of ``ASSETS``, reconnect with backoff, resubscribe) or, with ``--feed sim``, the
seeded ``SimulatedFeed`` at ``--rate`` quotes per second per asset. Either way each
valid quote goes to the single ``QuotePublisher`` (latest per symbol, paced per symbol,
held while the ``EngineGuard`` finds the engine unresponsive), which publishes
``price-update`` entries ``{asset, bid, ask, simulated}`` with exact decimal strings. The
quotes it publishes are aggregated into one-minute candles and upserted about once a
second by the ``CandleRecorder``; a database outage only delays the candles. On its first
run the simulated feed also backfills a seeded day of candles marked ``backfill``
(``feeds.backfill``), before the minute it starts in.

The feed's health (live, connected without quotes, exchange unreachable since T,
simulated) goes to ``engine-stream`` as ``feed-status`` entries for the WebSocket server,
and an outage is told in the log in plain words with the offline alternative
(``feed_health``). State also shows in a status log line every ``--status-interval``
seconds and, with ``--metrics-port``, as Prometheus metrics (``tradepro_poller_*``).
SIGTERM/SIGINT (through ``run_service``) stop every task; the last candles are flushed on
the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from tradepro.bus.base import Bus, BusUnavailableError
from tradepro.bus.factory import open_bus
from tradepro.bus.requests import Requester
from tradepro.config import Settings
from tradepro.feeds import Feed
from tradepro.feeds.backfill import simulated_history
from tradepro.feeds.backpack import BookTicker, Dropped
from tradepro.feeds.backpack_client import BackpackClient
from tradepro.feeds.candles import CandleAggregator, minute_start_s
from tradepro.feeds.coalesce import FeedQuote, LatestQuotes
from tradepro.feeds.sim import SimulatedFeed
from tradepro.runtime.backoff import FULL_JITTER, Backoff
from tradepro.runtime.heap import settle_heap
from tradepro.runtime.retry import RetryStoppedError, retry
from tradepro.runtime.urls import without_credentials
from tradepro.services.poller.candle_store import CandleRecorder
from tradepro.services.poller.feed_health import FeedHealth, FeedStatusReporter, OutageLog
from tradepro.services.poller.publish import EngineGuard, QuotePublisher
from tradepro.services.poller.status import DropWarnings, PollerStats, StatsCollector

log = logging.getLogger("tradepro.poller")


def wall_clock_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class PollerOptions:
    """The command line's choices (settings come from the environment)."""

    feed: Feed = "backpack"
    sim_rate_per_s: float = 10.0
    """``--feed sim``: quotes per second per asset."""
    seed: int | None = None
    """``--feed sim``: random seed (None: a fresh one, logged)."""
    max_rate_per_s: float = 50.0
    """Most ``price-update`` entries per second per symbol."""
    metrics_port: int | None = None
    status_interval_s: float = 10.0
    engine_timeout_s: float = 2.0
    """Hold quotes once a probe of the engine has been unanswered this long."""


class Poller:
    """One poller: receives quotes from a feed (as its listener) and runs the other tasks."""

    def __init__(
        self, settings: Settings, options: PollerOptions, bus: Bus, requester: Requester
    ) -> None:
        self.settings = settings
        self.options = options
        self.instruments = settings.instruments
        self.stats = PollerStats(feed=options.feed, assets=tuple(self.instruments))
        self.aggregator = CandleAggregator()
        self.seed: int = (
            options.seed if options.seed is not None else random.SystemRandom().randrange(10**6)
        )
        """``--feed sim``: the walk's seed (a fresh one, logged, when none is given)."""
        history = None
        if options.feed == "sim":  # never for the real feed: it has real history
            end_s = minute_start_s(wall_clock_us())
            history = partial(simulated_history, self.seed, self.instruments, end_s)
        self.recorder = CandleRecorder(
            settings.effective_database_url, self.aggregator, history=history
        )
        self.stats.candles = self.recorder
        self.publisher = QuotePublisher(
            bus,
            LatestQuotes(options.max_rate_per_s),
            self.instruments,
            self.stats,
            self.aggregator,
            max_age_us=int(settings.max_price_age_s * 1_000_000),
        )
        self.guard = EngineGuard(
            requester,
            self.stats,
            timeout_s=options.engine_timeout_s,
            on_change=self.publisher.wakeup.set,
        )
        self._drops = DropWarnings()
        self.health = FeedHealth(options.feed, self.stats.last_quote_us)
        self.outages = OutageLog(without_credentials(settings.backpack_ws_url))
        self.reporter = FeedStatusReporter(bus, self.health, self.outages)

    # -- what the feed reports (``FeedListener``) ------------------------------------------

    def feed_connected(self, streams: Sequence[str], reconnect: bool) -> None:
        self.stats.connected = True
        self.health.connected()
        self.outages.connected()
        if reconnect:
            self.stats.reconnects += 1
            log.info("reconnected to Backpack; resubscribed %s", ", ".join(streams))
        else:
            log.info("connected to Backpack; subscribed %s", ", ".join(streams))

    def feed_disconnected(self) -> None:
        self.stats.connected = False

    def feed_failed(self, reason: str) -> None:
        self.stats.connected = False
        self.health.failed(reason)
        self.outages.failed(self.health)

    def ticker(self, ticker: BookTicker, received_us: int) -> None:
        self.quote(FeedQuote(ticker.asset, ticker.bid, ticker.ask, received_us, False))

    def dropped(self, dropped: Dropped) -> None:
        self.stats.dropped[dropped.reason.value] += 1
        self._drops.note(dropped)

    def quote(self, quote: FeedQuote) -> None:
        """A valid quote from either feed: count it and offer it to the publisher."""
        self.stats.received[quote.asset] += 1
        self.stats.last_quote_us[quote.asset] = quote.received_us
        self.publisher.offer(quote)

    # -- tasks ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run the feed, publisher, guard, recorder, feed status and status line until
        ``stop``."""
        work: list[Coroutine[Any, Any, None]] = [
            self._feed(stop),
            self.publisher.run(stop),
            self.guard.run(stop),
            self.recorder.run(stop),
            self.reporter.run(stop),
            self._report(stop),
        ]
        tasks = [asyncio.create_task(coroutine) for coroutine in work]
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not stop.is_set():
                log.error("a poller task ended on its own: stopping the poller")
                stop.set()
            self.publisher.wakeup.set()
            await asyncio.gather(*tasks)  # each returns once ``stop`` is set (or raises)
        finally:
            stopping.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _feed(self, stop: asyncio.Event) -> None:
        if self.options.feed == "sim":
            await self._simulate(stop)
            return
        client = BackpackClient(self.settings.backpack_ws_url, self.instruments, self)
        await client.run(stop)

    async def _simulate(self, stop: asyncio.Event) -> None:
        seed = self.seed
        rate = self.options.sim_rate_per_s
        log.info("SIMULATED feed: seed %d, %g quotes/s per asset", seed, rate)
        feed = SimulatedFeed(random.Random(seed), self.instruments)
        self.stats.connected = True
        await run_simulated(feed, rate, self.quote, stop)
        self.stats.connected = False

    async def _report(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.status_interval_s)
            log.info("%s", self.stats.status_line(wall_clock_us()))


async def run_simulated(
    feed: SimulatedFeed,
    rate_per_s: float,
    deliver: Callable[[FeedQuote], None],
    stop: asyncio.Event,
    clock_us: Callable[[], int] = wall_clock_us,
) -> None:
    """Step ``feed`` ``rate_per_s`` times a second, delivering one quote per asset each
    step (marked simulated), until ``stop``. A late step is not caught up in a burst."""
    interval_s = 1.0 / rate_per_s
    next_at = time.monotonic()
    while not stop.is_set():
        now_us = clock_us()
        for quote in feed.step():
            deliver(FeedQuote(quote.asset, quote.bid, quote.ask, now_us, True))
        next_at += interval_s
        delay_s = next_at - time.monotonic()
        if delay_s < -interval_s:
            next_at, delay_s = time.monotonic(), 0.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(delay_s, 0.0))


async def serve_poller(settings: Settings, options: PollerOptions, stop: asyncio.Event) -> None:
    """Open the bus, wait for it if needed, and run the poller until ``stop`` is set."""
    settings.tradepro_data_dir.mkdir(parents=True, exist_ok=True)
    bus = open_bus(
        settings.redis_url,
        settings.tradepro_data_dir,
        namespace=settings.tradepro_bus_namespace,
        shards=settings.engine_shards,
        cluster=settings.redis_cluster,
    )
    requester = Requester(bus)
    metrics_server = None
    try:
        if not await _start(requester, stop):
            return
        poller = Poller(settings, options, bus, requester)
        if options.metrics_port is not None:
            metrics_server = _serve_metrics(poller.stats, options.metrics_port)
        log.info(
            "poller starting: feed=%s assets=%s bus=%s database=%s max %g quotes/s per symbol",
            "SIMULATED" if options.feed == "sim" else settings.backpack_ws_url,
            ",".join(settings.assets),
            "redis" if settings.redis_url else "embedded",
            settings.effective_database_url.split("@")[-1],
            options.max_rate_per_s,
        )
        settle_heap()
        await poller.run(stop)
    finally:
        await requester.stop()
        await bus.close()
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()


async def _start(requester: Requester, stop: asyncio.Event) -> bool:
    """Start the callback reader, retrying while the bus is down; False if stopped first."""
    try:
        await retry(
            requester.start,
            "following callback-queue at start",
            log,
            retry_on=BusUnavailableError,
            backoff=Backoff(base_s=0.1, cap_s=5.0, jitter=FULL_JITTER),
            stop=stop,
        )
    except RetryStoppedError:
        return False
    return True


def _serve_metrics(stats: PollerStats, port: int) -> Any:
    registry = CollectorRegistry()
    registry.register(StatsCollector(stats, wall_clock_us))
    server, _thread = start_http_server(port, addr="0.0.0.0", registry=registry)  # noqa: S104
    log.info("metrics at http://0.0.0.0:%d/metrics", port)
    return server


__all__ = ["Poller", "PollerOptions", "run_simulated", "serve_poller"]
