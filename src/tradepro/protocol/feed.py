"""The ``feed-status`` entry: the poller's report of its price feed's health.

Written by the poller (``services.poller.feed_health``) on every change and as a
heartbeat; read by the WebSocket server, which tells the browsers (the ``feed`` message,
docs/websocket.md). The engine ignores it. A reader takes only a well-formed report and
keeps nothing else of the payload: whatever is on the bus, a browser gets known words, a
time and a bounded text.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

FEEDS = frozenset({"backpack", "sim"})
"""The feeds a report may name (``tradepro.feeds.FEEDS``, which the protocol may not import)."""
MAX_ERROR_CHARS = 200
MAX_TIME_MS = 10**14
"""Bounds ``since`` (about the year 5000)."""


class FeedState(StrEnum):
    """The feed's state as every reader of ``feed-status`` spells it."""

    CONNECTING = "connecting"
    """Started; no connection attempt has finished yet."""
    LIVE = "live"
    NO_QUOTES = "no_quotes"
    """Connected and subscribed, but no quote for a few seconds."""
    UNREACHABLE = "unreachable"
    """No connection: the attempts fail (or the connection was lost and not yet back)."""
    SIMULATED = "simulated"


class FeedReport(NamedTuple):
    """One report: which feed, its state, since when (epoch ms), the last error in words."""

    feed: str
    state: FeedState
    since_ms: int | None
    error: str | None = None

    def payload(self) -> dict[str, object]:
        """The entry's payload."""
        return {"feed": self.feed, "state": self.state.value, "since": self.since_ms,
                "error": self.error}  # fmt: skip


_STATES = {state.value: state for state in FeedState}


def read_feed_report(payload: object) -> FeedReport | None:
    """The report in a ``feed-status`` payload, or None when anything in it is off."""
    if not isinstance(payload, dict):
        return None
    feed, state = payload.get("feed"), payload.get("state")
    since, error = payload.get("since"), payload.get("error")
    if feed not in FEEDS or not isinstance(state, str) or state not in _STATES:
        return None
    if since is not None and (
        not isinstance(since, int) or isinstance(since, bool) or not 0 <= since <= MAX_TIME_MS
    ):
        return None
    if error is not None and not isinstance(error, str):
        return None
    text = None if error is None else error[:MAX_ERROR_CHARS]
    return FeedReport(str(feed), _STATES[state], since, text)


__all__ = ["FEEDS", "MAX_ERROR_CHARS", "FeedReport", "FeedState", "read_feed_report"]
