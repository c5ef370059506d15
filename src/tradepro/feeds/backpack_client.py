"""The Backpack WebSocket client: connect, subscribe every book ticker, read, reconnect.

One connection at a time (``websockets.asyncio.client.connect``). After each (re)connect
it sends one SUBSCRIBE for ``bookTicker.<SYMBOL>`` of every configured asset, then hands
each message, classified by ``feeds.backpack.parse_message``, to a listener. When the
connection fails or ends it reconnects with exponential backoff and full jitter (delay
uniform in ``[0, min(cap, base * 2**n)]``, so many clients never retry in step), and the
backoff starts over once a connection has stayed up for ``healthy_after_s``.

Liveness: websockets answers the server's pings itself (Backpack pings every 60 s and
closes a client that has not answered within 120 s), and this client sends its own
keepalive ping every ``ping_interval_s``; a connection that has not answered one within
``ping_timeout_s`` is declared dead and replaced, so a silently broken network path is
noticed within about 40 s instead of never.

Every failed or lost connection is reported to the listener in plain words
(``feed_failed``), which decides what a person is told and how often; the client itself
logs each attempt only at debug level, so an outage does not fill the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import time
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from tradepro.domain.instruments import Instrument
from tradepro.feeds.backpack import (
    BookTicker,
    Dropped,
    SubscriptionReply,
    parse_message,
    stream_name,
    subscribe_message,
)
from tradepro.runtime.backoff import FULL_JITTER, Backoff

log = logging.getLogger("tradepro.poller")

MAX_FRAME_BYTES = 1 << 20
"""A larger frame closes the connection (code 1009); a book ticker is ~250 bytes."""


def reconnect_backoff() -> Backoff:
    """Reconnecting to Backpack: 0.25 s doubling to 30 s, full jitter (every poller that
    lost the exchange at once must not come back in step)."""
    return Backoff(base_s=0.25, cap_s=30.0, jitter=FULL_JITTER)


class FeedListener(Protocol):
    """What the client reports; the poller counts, logs and publishes from these."""

    def feed_connected(self, streams: Sequence[str], reconnect: bool) -> None: ...

    def feed_disconnected(self) -> None: ...

    def feed_failed(self, reason: str) -> None:
        """A connection attempt failed, or a connection ended; ``reason`` in plain words."""

    def ticker(self, ticker: BookTicker, received_us: int) -> None: ...

    def dropped(self, dropped: Dropped) -> None: ...


class BackpackClient:
    """Keeps one subscribed connection to ``url`` open until ``run``'s ``stop`` is set."""

    def __init__(
        self,
        url: str,
        instruments: Mapping[str, Instrument],
        listener: FeedListener,
        *,
        backoff: Backoff | None = None,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 20.0,
        open_timeout_s: float = 10.0,
        healthy_after_s: float = 10.0,
    ) -> None:
        self.url = url
        self.instruments = instruments
        self.listener = listener
        self.backoff = backoff or reconnect_backoff()
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.open_timeout_s = open_timeout_s
        self.healthy_after_s = healthy_after_s
        self.connections = 0
        """Connections opened so far (each one subscribed)."""
        self._request_id = 0
        self._subscribed_at: float | None = None
        """When the current connection was subscribed (None: not yet)."""

    @property
    def streams(self) -> list[str]:
        return [stream_name(symbol) for symbol in self.instruments]

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, read and reconnect until ``stop`` is set."""
        while not stop.is_set():
            self._subscribed_at = None
            outcome = await _until_stopped(self._connect_and_read(), stop)
            if stop.is_set():
                return
            if self._connected_for_s() >= self.healthy_after_s:
                self.backoff.reset()
            delay_s = self.backoff.next_delay_s()
            self.listener.feed_failed(outcome)
            log.debug("Backpack feed %s (%s); reconnecting in %.2fs", self.url, outcome, delay_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay_s)

    def _connected_for_s(self) -> float:
        """How long the last connection stayed subscribed (0 if it never was)."""
        if self._subscribed_at is None:
            return 0.0
        return time.monotonic() - self._subscribed_at

    async def _connect_and_read(self) -> str:
        """One connection's life; returns why it ended (failures included, never raised)."""
        try:
            async with connect(
                self.url,
                open_timeout=self.open_timeout_s,
                ping_interval=self.ping_interval_s,
                ping_timeout=self.ping_timeout_s,
                close_timeout=1.0,  # a dead peer never completes the closing handshake
                max_size=MAX_FRAME_BYTES,
            ) as connection:
                try:
                    await self._session(connection)
                finally:
                    if self.connections:
                        self.listener.feed_disconnected()
            return "the exchange closed the connection"
        except Exception as error:  # noqa: BLE001 - the feed must outlive any failure
            return in_plain_words(error)

    async def _session(self, connection: ClientConnection) -> None:
        self._request_id += 1
        await connection.send(subscribe_message(self.instruments, self._request_id))
        self._subscribed_at = time.monotonic()
        reconnect = self.connections > 0
        self.connections += 1
        self.listener.feed_connected(self.streams, reconnect)
        listener, instruments = self.listener, self.instruments
        async for message in connection:
            received_us = time.time_ns() // 1000
            parsed = parse_message(message, instruments)
            if type(parsed) is BookTicker:
                listener.ticker(parsed, received_us)
            elif type(parsed) is Dropped:
                listener.dropped(parsed)
            elif type(parsed) is SubscriptionReply and parsed.error is not None:
                log.error("Backpack refused subscription %s: %s", parsed.request_id, parsed.error)


def in_plain_words(error: BaseException) -> str:
    """Why a connection failed, for a person (the poller's log, the UI's feed line)."""
    if isinstance(error, ConnectionClosed):
        return "the connection was lost"
    if isinstance(error, InvalidStatus):
        return f"the exchange refused the connection (HTTP {error.response.status_code})"
    if isinstance(error, InvalidURI):
        return "the address is not a valid WebSocket URL"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, socket.gaierror):
        return "its host name cannot be resolved (no network or no DNS?)"
    if isinstance(error, ssl.SSLError):
        return f"the secure connection failed ({error.reason or error})"
    if isinstance(error, ConnectionRefusedError) or (
        isinstance(error, OSError)
        and (error.errno == errno.ECONNREFUSED or "Connect call failed" in str(error))
    ):
        return "connection refused (nothing accepts connections at that address)"
    if isinstance(error, OSError):
        return error.strerror or str(error) or type(error).__name__
    return f"{type(error).__name__}: {error}"


async def _until_stopped(work: Coroutine[Any, Any, str], stop: asyncio.Event) -> str:
    """Run ``work`` until it ends or ``stop`` is set (then cancel it); its result or ''."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return "" if task.cancelled() else task.result()


__all__ = ["BackpackClient", "FeedListener", "in_plain_words", "reconnect_backoff"]
