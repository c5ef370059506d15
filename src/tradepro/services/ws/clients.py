"""One connected client: a bounded outbox drained by one writer task.

Fan-out never awaits a socket, so one slow client cannot hold up the others. A message
for a client that is keeping up (nothing waiting in its outbox, its writer idle, the
connection's write buffer under ``write_limit``) is written at once; otherwise it joins
the outbox and the client's writer task sends it with the library's flow control. An
outbox that is full when a message arrives means the client is not reading: ``offer``
says so and the hub closes that client (1013).

Why the direct write: at 1,000 clients and 50 updates a second, waking a writer task and
going through ``send`` for every copy cost about 24 µs of CPU each, a write of the
ready-made frame about 8 µs (measured here). Each message is therefore framed once
(``Outgoing``): server frames are never masked and the server runs without compression,
so the frame is the same bytes for every client, exactly what ``send`` would write.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import NamedTuple, Protocol

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
        self, peer: Peer, queue_limit: int, write_limit_bytes: int = WRITE_LIMIT_BYTES
    ) -> None:
        self.peer = peer
        self.queue_limit = queue_limit
        self.write_limit_bytes = write_limit_bytes
        self.user_id: str | None = None
        self.channels: set[str] = set()
        self.sent = 0
        """Messages handed to the connection (counted for the metrics)."""
        self.closing: asyncio.Task[None] | None = None
        """Set once the server decided to close this client: nothing more is queued."""
        self.expiry: asyncio.TimerHandle | None = None
        """Closes the client when its session token expires."""
        self._transport = peer.transport
        self._outbox: deque[Outgoing] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        """Set while the writer waits for work (it is not inside ``send``)."""

    @property
    def queued(self) -> int:
        return len(self._outbox)

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
        if len(outbox) >= self.queue_limit:
            return False
        outbox.append(message)
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)
        return True

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
                await send(outbox.popleft().payload, text=True)  # waits while buffer is full
                self.sent += 1
        except ConnectionClosed:
            return
        finally:
            self._wakeup = None

    def discard_queued(self) -> None:
        self._outbox.clear()

    async def close(self, code: int, reason: str, timeout_s: float) -> None:
        """Close with ``code``; a peer that does not complete the closing handshake within
        ``timeout_s`` (it may not even be reading) has its TCP connection aborted."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.peer.close(code, reason)
        except TimeoutError:
            self._transport.abort()
