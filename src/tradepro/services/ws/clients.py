"""One connected client: a bounded outbox drained by one writer task, and the quotes it
has yet to get.

Fan-out never awaits a socket, so one slow client cannot hold up the others. A message
for a client that is keeping up (nothing waiting in its outbox, its writer idle, the
connection's write buffer under ``write_limit``) is written at once; otherwise it joins
the outbox and the client's writer task sends it with the library's flow control. An
outbox that is full when a message arrives means the client is not reading: ``offer``
says so and the hub closes that client (1013). Only replies and order events go through
``offer``: they are never dropped.

Quotes take ``offer_prices`` and are never queued one by one: a client that cannot take
them now has the assets noted as stale, and one ``PRICES_DUE`` mark in its outbox. When
the writer reaches the mark it sends the *latest* quote of each stale asset at that moment
(the hub's ``latest`` map), so a slow client catches up with one message per asset, never
a backlog, and in order with the order events queued after the mark.

Why the direct write: at 1,000 clients and 50 updates a second, waking a writer task and
going through ``send`` for every copy cost about 24 µs of CPU each, a write of the
ready-made frame about 8 µs (measured here). Each message is therefore framed once
(``Outgoing``): server frames are never masked and the server runs without compression,
so the frame is the same bytes for every client, exactly what ``send`` would write. (The
library's ``broadcast`` takes the encoded text once but frames it again per connection
and writes past a full buffer: no flow control, so a slow client's memory grows.)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Final, NamedTuple, Protocol

from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State

WRITE_LIMIT_BYTES = 32 * 1024
"""A connection's write-buffer high-water mark (the library's default, passed to it
explicitly): above it nothing more is written directly."""


class Outgoing(NamedTuple):
    """One server message, serialized once and framed once for all its recipients."""

    payload: bytes
    """The JSON text."""
    frame: bytes
    """The complete WebSocket text frame carrying ``payload``."""


def outgoing(payload: bytes) -> Outgoing:
    return Outgoing(payload, Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[]))


class _PricesDue:
    """The outbox mark where a client that fell behind gets its stale assets' latest
    quotes."""


PRICES_DUE: Final = _PricesDue()


class Peer(Protocol):
    """What a client needs of its connection (a ``websockets`` ``ServerConnection``)."""

    async def send(self, message: bytes, /, *, text: bool | None = None) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    @property
    def state(self) -> State: ...

    @property
    def transport(self) -> asyncio.WriteTransport: ...


class Client:
    """A connection's owner, subscriptions and outbox (at most ``queue_limit`` messages)."""

    def __init__(
        self,
        peer: Peer,
        queue_limit: int,
        latest: Mapping[str, Outgoing],
        write_limit_bytes: int = WRITE_LIMIT_BYTES,
    ) -> None:
        """``latest`` is the hub's latest quote per asset (read when a stale asset is sent)."""
        self.peer = peer
        self.queue_limit = queue_limit
        self.latest = latest
        self.write_limit_bytes = write_limit_bytes
        self.user_id: str | None = None
        self.channels: set[str] = set()
        self.price_assets: tuple[str, ...] = ()
        """The assets of its price channels, sorted (the order of a price slot's frames);
        kept by the hub, which groups the clients by them."""
        self.sent = 0
        """Messages handed to the connection (counted for the metrics)."""
        self.closing: asyncio.Task[None] | None = None
        """Set once the server decided to close this client: nothing more is queued."""
        self.expiry: asyncio.TimerHandle | None = None
        """Closes the client when its session token expires."""
        self._transport = peer.transport
        self._outbox: deque[Outgoing | _PricesDue] = deque()
        self._stale: set[str] = set()
        """Assets whose latest quote waits for the ``PRICES_DUE`` mark in the outbox."""
        self._caught_up: dict[str, Outgoing] = {}
        """The quote of each asset the last marks sent (not to send the same one twice)."""
        self._wakeup: asyncio.Future[None] | None = None
        """Set while the writer waits for work (it is not inside ``send``)."""

    @property
    def queued(self) -> int:
        return len(self._outbox)

    @property
    def stale(self) -> frozenset[str]:
        return frozenset(self._stale)

    def offer(self, message: Outgoing) -> bool:
        """Send or queue ``message``; ``False`` when the outbox is full (too slow)."""
        if self.closing is not None or self.peer.state is not State.OPEN:
            return True  # on its way out: nothing more to send, and nothing to report
        outbox = self._outbox
        wakeup = self._wakeup
        if (
            wakeup is not None
            and not outbox
            and self._transport.get_write_buffer_size() < self.write_limit_bytes
        ):
            self._transport.write(message.frame)
            self.sent += 1
            return True
        if len(outbox) - (1 if self._stale else 0) >= self.queue_limit:
            return False  # (the mark is not a message: it never counts against the limit)
        outbox.append(message)
        self._wake(wakeup)
        return True

    def offer_prices(self, assets: tuple[str, ...], frames: bytes) -> None:
        """The latest quotes of ``assets``: ``frames`` (theirs, joined) written now if the
        client keeps up, else the assets are marked stale (never queued, never a reason
        to close the client)."""
        if not assets or self.closing is not None or self.peer.state is not State.OPEN:
            return
        wakeup = self._wakeup
        if (
            wakeup is not None
            and not self._outbox
            and self._transport.get_write_buffer_size() < self.write_limit_bytes
        ):
            self._transport.write(frames)
            self.sent += len(assets)
            return
        if not self._stale:
            self._outbox.append(PRICES_DUE)
        self._stale.update(assets)
        self._wake(wakeup)

    def _wake(self, wakeup: asyncio.Future[None] | None) -> None:
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)

    async def write_forever(self) -> None:
        """Send the outbox in order until the connection closes (the one writer)."""
        outbox = self._outbox
        send = self.peer.send
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not outbox:
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    continue
                item = outbox.popleft()
                if isinstance(item, _PricesDue):
                    await self._send_stale()
                else:
                    await send(item.payload, text=True)  # waits while the buffer is full
                    self.sent += 1
        except ConnectionClosed:
            return
        finally:
            self._wakeup = None

    async def _send_stale(self) -> None:
        """The latest quote of each stale asset still subscribed, as it is now. Assets
        that go stale while these are sent get a new mark (so never more than one)."""
        stale = sorted(self._stale)
        self._stale.clear()
        for asset in stale:
            latest = self.latest.get(asset)
            if (
                latest is not None
                and asset in self.price_assets
                and self._caught_up.get(asset) is not latest  # sent by the previous mark
            ):
                self._caught_up[asset] = latest
                await self.peer.send(latest.payload, text=True)
                self.sent += 1

    def discard_queued(self) -> None:
        self._outbox.clear()
        self._stale.clear()

    async def close(self, code: int, reason: str, timeout_s: float) -> None:
        """Close with ``code``; a peer that does not complete the closing handshake within
        ``timeout_s`` (it may not even be reading) has its TCP connection aborted."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.peer.close(code, reason)
        except TimeoutError:
            self._transport.abort()
