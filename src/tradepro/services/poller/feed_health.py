"""What the poller knows about its feed, told to people: the log, and every ws client.

A person watching prices must be able to tell "the exchange cannot be reached" (nothing
to do but wait, or trade offline on the simulated feed) from "connected, but no quotes
arrive" and from "live". ``FeedHealth`` derives that state from what the feed client
reports; ``OutageLog`` says it in the log, at the start of an outage and then sparingly
(never once per reconnect attempt); ``FeedStatusReporter`` publishes it as a
``feed-status`` entry on ``engine-stream`` on every change and as a heartbeat, for the
WebSocket server (the engine ignores these entries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping

from tradepro.bus.base import Bus
from tradepro.feeds import Feed
from tradepro.protocol.feed import MAX_ERROR_CHARS, FeedReport, FeedState
from tradepro.protocol.kinds import Kind

log = logging.getLogger("tradepro.poller")

OFFLINE_HINT = "make run FEED=sim"
"""How to trade without the exchange: the whole platform on the simulated feed."""
QUIET_AFTER_S = 5.0
"""A connected feed with no quote for this long is "connected, no quotes" (Backpack sends
several book tickers a second per liquid market)."""


class FeedHealth:
    """The feed's state from the client's reports and the time of the latest quote.

    Cheap on the hot path: quotes are not reported here; ``status`` reads the newest of
    the poller's per-asset quote times when asked (about once a second).
    """

    def __init__(
        self,
        feed: Feed,
        last_quote_us: Mapping[str, int | None],
        *,
        quiet_after_s: float = QUIET_AFTER_S,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.feed = feed
        self.last_quote_us = last_quote_us
        self.quiet_after_ms = int(quiet_after_s * 1000)
        self.clock_ms = clock_ms
        self.started_ms = clock_ms()
        self.connected_ms: int | None = None
        """When the current connection was subscribed (None: not connected)."""
        self.outage_ms: int | None = None
        """When the current outage began: the first failure since the last connection."""
        self.attempts = 0
        """Failed attempts in the current outage."""
        self.error: str | None = None
        """The last failure, in plain words."""

    def connected(self) -> None:
        self.connected_ms = self.clock_ms()
        self.outage_ms = None
        self.attempts = 0
        self.error = None

    def failed(self, reason: str) -> None:
        self.connected_ms = None
        self.attempts += 1
        self.error = reason[:MAX_ERROR_CHARS]
        if self.outage_ms is None:
            self.outage_ms = self.clock_ms()

    def status(self) -> FeedReport:
        """The state now."""
        if self.feed == "sim":
            return FeedReport(self.feed, FeedState.SIMULATED, self.started_ms)
        if self.outage_ms is not None:
            return FeedReport(self.feed, FeedState.UNREACHABLE, self.outage_ms, self.error)
        if self.connected_ms is None:
            return FeedReport(self.feed, FeedState.CONNECTING, self.started_ms)
        quotes = [us // 1000 for us in self.last_quote_us.values() if us is not None]
        quiet_since = max([self.connected_ms, *quotes])
        if self.clock_ms() - quiet_since >= self.quiet_after_ms:
            return FeedReport(self.feed, FeedState.NO_QUOTES, quiet_since)
        return FeedReport(self.feed, FeedState.LIVE, self.connected_ms)


class OutageLog:
    """Tells the log about an outage: when it starts, then after ``first_repeat_s`` and
    every ``repeat_s``, and when it ends. Each line says what a person can do."""

    def __init__(
        self,
        url: str,
        *,
        first_repeat_s: float = 60.0,
        repeat_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.first_repeat_s = first_repeat_s
        self.repeat_s = repeat_s
        self.clock = clock
        self._started: float | None = None
        self._next_report = 0.0
        self._quiet_reported = False

    def failed(self, health: FeedHealth) -> None:
        """After each failed attempt (``health`` already knows of it)."""
        now = self.clock()
        if self._started is None:
            self._started = now
            self._next_report = now + self.first_repeat_s
            log.warning(
                "cannot reach the exchange at %s: %s. Prices are not updating; retrying in "
                "the background. To trade offline on simulated prices, run: %s",
                self.url, health.error, OFFLINE_HINT,
            )  # fmt: skip
            return
        if now < self._next_report:
            return
        self._next_report = now + self.repeat_s
        log.warning(
            "still cannot reach the exchange at %s (since %s, %d attempts; last: %s). "
            "To trade offline on simulated prices, run: %s",
            self.url, _clock_time(health.outage_ms), health.attempts, health.error, OFFLINE_HINT,
        )  # fmt: skip

    def connected(self) -> None:
        if self._started is not None:
            log.info("reached the exchange again after %.0f s", self.clock() - self._started)
        self._started = None
        self._quiet_reported = False

    def observed(self, status: FeedReport) -> None:
        """Each evaluated status: says once per episode that quotes stopped coming."""
        if status.state is FeedState.NO_QUOTES and not self._quiet_reported:
            self._quiet_reported = True
            log.warning(
                "connected to the exchange at %s, but no quotes since %s: prices are not "
                "updating",
                self.url, _clock_time(status.since_ms),
            )  # fmt: skip
        elif status.state is FeedState.LIVE and self._quiet_reported:
            self._quiet_reported = False
            log.info("quotes arrive again from %s", self.url)


def _clock_time(epoch_ms: int | None) -> str:
    """``23:14:05`` in this machine's time zone (the one the person reading the log has)."""
    if epoch_ms is None:
        return "?"
    return time.strftime("%H:%M:%S", time.localtime(epoch_ms / 1000))


class FeedStatusReporter:
    """Publishes the feed's status as a ``feed-status`` entry: within ``tick_s`` of a change
    and every ``heartbeat_s`` otherwise (so a WebSocket server started later learns it)."""

    def __init__(
        self,
        bus: Bus,
        health: FeedHealth,
        outages: OutageLog | None = None,
        *,
        tick_s: float = 1.0,
        heartbeat_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.health = health
        self.outages = outages
        self.tick_s = tick_s
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self._last: FeedReport | None = None
        self._next_heartbeat = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Report until ``stop`` is set; a bus failure is retried at the next tick."""
        while not stop.is_set():
            await self.report()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick_s)

    async def report(self) -> None:
        """Publish the status now if it changed or a heartbeat is due."""
        status = self.health.status()
        if self.outages is not None:
            self.outages.observed(status)
        now = self.clock()
        if status == self._last and now < self._next_heartbeat:
            return
        try:
            await self.bus.publish(Kind.FEED_STATUS, status.payload(), str(uuid.uuid4()))
        except Exception as error:  # noqa: BLE001 - the next tick tries again
            log.debug("publishing the feed status failed: %s", error)
            return
        self._last = status
        self._next_heartbeat = now + self.heartbeat_s


__all__ = [
    "OFFLINE_HINT",
    "FeedHealth",
    "FeedStatusReporter",
    "OutageLog",
]
