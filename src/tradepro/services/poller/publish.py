"""Publishing quotes to ``engine-stream``: one publisher, held back while the engine lags.

``QuotePublisher`` is the only task that publishes. Feeds ``offer`` quotes into a
``LatestQuotes`` (newest per symbol, paced per symbol) and wake it; it publishes whatever
is ready as ``price-update`` entries (concurrent publishes of one turn share a Redis
pipeline), and puts quotes back if the bus refuses them. So a burst of 1,000 quotes of a
symbol that arrives while a publish is in flight becomes a single entry.

``EngineGuard`` keeps the stream from growing without bound when the engine is slow or
down. It probes the engine with a ``get-account`` request for a fixed user id that never
trades (any reply means the engine has read the stream up to the probe), at most one
probe at a time. When a probe has been unanswered for ``timeout_s`` the guard *holds*:
the publisher publishes nothing and ``LatestQuotes`` keeps only the latest quote per
symbol. When the engine answers again the publisher sends those latest quotes, minus any
that grew older than the engine's price age limit while held (the engine stamps an entry
with the time it is appended, so a stale quote must never be published as fresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping

from tradepro.bus.base import Bus, BusUnavailableError
from tradepro.bus.requests import Requester, RequestTimeoutError
from tradepro.domain.fixed import format_scaled
from tradepro.domain.instruments import Instrument
from tradepro.feeds.candles import CandleAggregator
from tradepro.feeds.coalesce import FeedQuote, LatestQuotes
from tradepro.protocol.kinds import Kind
from tradepro.runtime.backoff import FULL_JITTER, Backoff
from tradepro.services.poller.status import PollerStats

log = logging.getLogger("tradepro.poller")

PROBE_USER_ID = "00000000-0000-4000-8000-00000000feed"
"""The account the engine guard asks about: never registered, so the engine answers
``unknown_user`` and nothing changes (like the API's ``/health`` probe)."""


class EngineGuard:
    """Probes the engine; ``holding`` is True while it does not answer in time."""

    def __init__(
        self,
        requester: Requester,
        stats: PollerStats,
        *,
        timeout_s: float = 2.0,
        interval_s: float = 1.0,
        reply_timeout_s: float = 30.0,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.requester = requester
        self.stats = stats
        self.timeout_s = timeout_s
        self.interval_s = interval_s
        self.reply_timeout_s = max(reply_timeout_s, timeout_s)
        self.on_change = on_change
        self.probes = 0
        self._held_since = 0.0

    @property
    def holding(self) -> bool:
        return self.stats.holding

    async def run(self, stop: asyncio.Event) -> None:
        """Probe every ``interval_s`` (one probe at a time) until ``stop`` is set."""
        while not stop.is_set():
            await self._probe(stop)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    async def _probe(self, stop: asyncio.Event) -> None:
        self.probes += 1
        probe = asyncio.ensure_future(
            self.requester.send_request_and_wait(
                Kind.GET_ACCOUNT, {"userId": PROBE_USER_ID}, timeout_s=self.reply_timeout_s
            )
        )
        try:
            done, _ = await asyncio.wait({probe}, timeout=self.timeout_s)
            if not done:
                self._hold(f"no reply to a probe within {self.timeout_s:g}s")
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({probe, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not probe.done():
                    return
            probe.result()
        except (BusUnavailableError, RequestTimeoutError) as error:
            self._hold(str(error))
            return
        finally:
            probe.cancel()
        self._release()

    def _hold(self, reason: str) -> None:
        if self.stats.holding:
            return
        self.stats.holding = True
        self._held_since = time.monotonic()
        log.warning(
            "engine not answering (%s): HOLDING quotes, the latest per symbol is kept and "
            "nothing is published until it answers",
            reason,
        )
        self.on_change()

    def _release(self) -> None:
        if not self.stats.holding:
            return
        self.stats.holding = False
        held_s = time.monotonic() - self._held_since
        log.info("engine answering again after %.1fs: publishing the latest quotes", held_s)
        self.on_change()


class QuotePublisher:
    """The single publisher of ``price-update`` entries."""

    def __init__(
        self,
        bus: Bus,
        latest: LatestQuotes,
        instruments: Mapping[str, Instrument],
        stats: PollerStats,
        candles: CandleAggregator,
        *,
        max_age_us: int,
        clock: Callable[[], float] = time.monotonic,
        clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self.bus = bus
        self.latest = latest
        self.decimals = {symbol: item.price_decimals for symbol, item in instruments.items()}
        self.stats = stats
        self.candles = candles
        self.max_age_us = max_age_us
        self.clock = clock
        self.clock_us = clock_us
        self.wakeup = asyncio.Event()
        """Set on every offer, on engine state changes and on stop."""
        self._backoff = Backoff(base_s=0.05, cap_s=2.0, jitter=FULL_JITTER)

    def offer(self, quote: FeedQuote) -> None:
        """Keep ``quote`` as its symbol's latest and wake the publisher."""
        if self.latest.offer(quote):
            self.stats.coalesced[quote.asset] += 1
        self.wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish ready quotes until ``stop`` is set (holding while the engine lags)."""
        while True:
            self.wakeup.clear()
            if stop.is_set():
                return
            if self.stats.holding:
                await self.wakeup.wait()
                continue
            now = self.clock()
            batch = self.latest.take_ready(now)
            if not batch:
                await self._sleep(self.latest.seconds_until_ready(now))
                continue
            error = await self.publish(batch)
            if error is None:
                if self._backoff.failures:
                    log.info("publishing again after %d failures", self._backoff.failures)
                self._backoff.reset()
                continue
            delay_s = self._backoff.next_delay_s()
            if self._backoff.failures == 1:
                log.warning("publishing quotes failed (%s); retrying with backoff", error)
            with contextlib.suppress(TimeoutError):  # offers must not shorten this pause
                await asyncio.wait_for(stop.wait(), delay_s)

    async def publish(self, batch: list[FeedQuote]) -> Exception | None:
        """Publish ``batch`` (one quote per symbol); on failure put the failed quotes back
        and return the error."""
        fresh = self._fresh(batch)
        results = await asyncio.gather(
            *(self._publish_one(quote) for quote in fresh), return_exceptions=True
        )
        failed: list[FeedQuote] = []
        error: Exception | None = None
        for quote, result in zip(fresh, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                failed.append(quote)
                error = result
                continue
            self.stats.published[quote.asset] += 1
            self.candles.add(quote.asset, quote.bid, quote.ask, quote.received_us, quote.simulated)
        if failed:
            for superseded in self.latest.restore(failed):
                self.stats.coalesced[superseded.asset] += 1
            self.stats.publish_failures += 1
        return error

    def _fresh(self, batch: list[FeedQuote]) -> list[FeedQuote]:
        oldest_us = self.clock_us() - self.max_age_us
        fresh = [quote for quote in batch if quote.received_us >= oldest_us]
        for quote in batch:
            if quote.received_us < oldest_us:
                self.stats.expired[quote.asset] += 1
        return fresh

    async def _publish_one(self, quote: FeedQuote) -> None:
        decimals = self.decimals[quote.asset]
        payload = {
            "asset": quote.asset,
            "bid": format_scaled(quote.bid, decimals),
            "ask": format_scaled(quote.ask, decimals),
            "simulated": quote.simulated,
        }
        await self.bus.publish(Kind.PRICE_UPDATE, payload, str(uuid.uuid4()))

    async def _sleep(self, delay_s: float | None) -> None:
        """Wait for a wakeup, at most ``delay_s`` (None: until one comes)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wakeup.wait(), delay_s)


__all__ = ["PROBE_USER_ID", "EngineGuard", "QuotePublisher"]
