"""The ``feed`` message: the poller's feed health, told to every price subscriber.

The price reader hands each ``feed-status`` entry of ``engine-stream`` to ``FeedRelay``,
which keeps the latest report and sends it, re-rendered from the validated report (never
the raw payload), to every client subscribed to any ``prices.<ASSET>`` channel when it
changes. The poller repeats its report every few seconds as a heartbeat: an unchanged
report is not sent again. A client that subscribes to a price channel gets the latest
report at once, so a fresh page can say whether prices are coming.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from tradepro.bus.base import Entry
from tradepro.protocol.feed import FeedReport, read_feed_report
from tradepro.protocol.render import iso_time
from tradepro.services.ws.clients import Client
from tradepro.services.ws.hub import Hub
from tradepro.services.ws.messages import PRICES_PREFIX


def feed_message(report: FeedReport) -> bytes:
    """``{"type": "feed", "feed", "state", "since", "error"}`` (docs/websocket.md)."""
    since = None if report.since_ms is None else iso_time(report.since_ms * 1000)
    return orjson.dumps(
        {
            "type": "feed",
            "feed": report.feed,
            "state": report.state.value,
            "since": since,
            "error": report.error,
        }
    )


class FeedRelay:
    """The latest feed report, and who hears of it."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.latest: bytes | None = None
        self.ignored = 0
        """Malformed ones (not passed on)."""

    def seen(self, entry: Entry) -> None:
        """A ``feed-status`` entry: pass it on if it says something new."""
        report = read_feed_report(entry.payload)
        if report is None:
            self.ignored += 1
            return
        message = feed_message(report)
        if message != self.latest:
            self.latest = message
            self.hub.publish_to_price_subscribers(message)

    def greet(self, client: Client, added: Iterable[str]) -> None:
        """After a subscription: the latest report, if a price channel was added."""
        if self.latest is not None and any(name.startswith(PRICES_PREFIX) for name in added):
            self.hub.reply(client, self.latest)


__all__ = ["FeedRelay", "feed_message"]
