"""The two bus readers behind the fan-out: prices from ``engine-stream``, order events from
``callback-queue``. Both outlive bus outages: they back off with jitter and carry on from
the last id they saw, so nothing published meanwhile is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from tradepro.bus.base import Bus, BusUnavailableError, Entry
from tradepro.bus.names import shard_of
from tradepro.bus.requests import Requester
from tradepro.bus.shards import shard_buses
from tradepro.domain.instruments import Instrument
from tradepro.protocol.kinds import Kind
from tradepro.runtime.backoff import Backoff
from tradepro.runtime.retry import RetryPause, retry
from tradepro.services.ws.feed_status import FeedRelay
from tradepro.services.ws.hub import Hub
from tradepro.services.ws.messages import order_message, price_message

log = logging.getLogger("tradepro.ws")


class PriceFeed:
    """Follows ``engine-stream`` from its newest entry at start; each valid ``price-update``
    becomes the asset's latest ``price`` message, which the hub sends to the asset's
    subscribers at most ``WS_PRICE_RATE_PER_S`` a second (``hub.py``)."""

    def __init__(
        self,
        bus: Bus,
        instruments: Mapping[str, Instrument],
        hub: Hub,
        *,
        read_count: int = 500,
        block_ms: int = 1000,
        backoff: Backoff | None = None,
        shard: int = 0,
    ) -> None:
        self.bus = bus
        self.shard = shard
        """Which engine shard's stream this reads. Every price reaches every shard, so only
        shard 0's reader hands prices on; the others only let their shard's order events
        pass once their cause has been read (``Hub.stream_passed``)."""
        self.instruments = instruments
        self.hub = hub
        self.feed_reports = FeedRelay(hub)
        """Where ``feed-status`` entries go (``feed_status.py``)."""
        self.read_count = read_count
        self.block_ms = block_ms
        self.pause = RetryPause(
            "reading engine-stream",
            log,
            backoff=backoff or Backoff(base_s=0.05, cap_s=2.0),
            expected=BusUnavailableError,
        )
        self.last_seen_id: str | None = None
        self.connected = False
        """Whether the last read succeeded (``/health``)."""
        self.read_failures = 0
        self.ignored = 0
        """``price-update`` entries not passed on (unknown asset, malformed, crossed)."""

    async def run(self) -> None:
        """Read and fan out until cancelled."""
        while True:
            try:
                if self.last_seen_id is None:
                    self.last_seen_id = await self.bus.last_entry_id()
                    self.hub.stream_passed(self.last_seen_id, self.shard)  # the past: not ours
                entries = await self.bus.read_entries(
                    self.last_seen_id, self.read_count, self.block_ms
                )
            except Exception as error:  # noqa: BLE001 - the reader must outlive any failure
                await self._back_off(error)
                continue
            self.pause.succeeded()
            self.connected = True
            for entry in entries:
                self.last_seen_id = entry.entry_id
                if self.shard == 0:  # the other shards' readers see the same prices again
                    self._hand_on(entry)
                self.hub.stream_passed(entry.entry_id, self.shard)  # its order events may follow

    def _hand_on(self, entry: Entry) -> None:
        if entry.kind == Kind.FEED_STATUS:
            self.feed_reports.seen(entry)
        elif entry.kind == Kind.PRICE_UPDATE:
            self._fan_out(entry)  # a burst costs one slot: quotes are conflated

    def _fan_out(self, entry: Entry) -> None:
        """Hand one price-update to the hub (the asset's latest quote from now on)."""
        try:
            rendered = price_message(entry, self.instruments)
            if rendered is not None:
                self.hub.publish_price(*rendered)
                return
        except Exception:  # a bug must cost one quote, never the feed
            log.exception("price-update %s could not be sent", entry.entry_id)
        self.ignored += 1

    async def _back_off(self, error: Exception) -> None:
        self.connected = False
        self.read_failures += 1
        await self.pause.after(error)


class OrderFeed:
    """Turns ``created``/``closed`` callbacks (including the engine's own closes: take-profit,
    stop-loss, margin call) into ``order`` messages for their owner only."""

    def __init__(self, bus: Bus, hub: Hub, *, backoff: Backoff | None = None) -> None:
        self.hub = hub
        self.requester = Requester(bus)  # follows every shard's callback-queue
        self.shards = len(shard_buses(bus))
        self.backoff = backoff or Backoff(base_s=0.05, cap_s=2.0)
        self.started = False
        self.requester.subscribe(self._on_callback)

    async def run(self) -> None:
        """Start the requester's reader (retrying while the bus is down), then wait; the
        reader itself rides out later outages."""
        # Any failure is retried until the bus answers.
        await retry(self.requester.start, "following callback-queue", log, backoff=self.backoff)
        self.started = True
        try:
            await asyncio.Event().wait()
        finally:
            with contextlib.suppress(Exception):
                await self.requester.stop()

    def _on_callback(self, body: dict[str, Any]) -> None:
        rendered = order_message(body)
        if rendered is not None:
            user_id, message, seq = rendered
            caused_by = body.get("entryId")
            shard = shard_of(user_id, self.shards)  # whose stream ``entryId`` is of
            cause = caused_by if isinstance(caused_by, str) else None
            self.hub.publish_order(user_id, message, cause, seq, shard)
