"""Connection limits of the WebSocket server: per client address, and for connections
without a session.

One client once held 18,600 connections without a session (about 400 MB) and the server
refused legitimate ones. So:

- every TCP connection counts against its address from accept to close (handshakes in
  progress included). A connection over ``per_address`` is let through the handshake and
  closed at once with **4429** (a browser sees the code and the reason); one over twice
  that (an address that keeps opening connections faster than they are closed) is
  aborted at accept, before any handshake work;
- connections opened without a session token (no cookie, ``?token=`` or ``Authorization``
  at the handshake, and no ``auth`` message since) are at most ``anonymous`` over all
  clients; one more is closed with **4503**. Signed-in clients are never refused by it;
- the opening handshake must complete within the server's handshake timeout;
- each connection may send ``messages_per_s`` messages a second, sustained, and a burst of
  ``message_burst`` (``MessageBudget``); one more closes it with **1008**. Every message
  costs the server work (an ``auth`` a key lookup in the database, a ``subscribe`` the
  latest quotes sent back), and a page needs a handful a minute.

The address is the TCP peer's: behind a proxy every client shares the proxy's address,
so raise ``WS_MAX_CONNECTIONS_PER_ADDRESS`` there and limit per client at the proxy.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from websockets.asyncio.server import ServerConnection

from tradepro.runtime.token_bucket import refilled

TOO_MANY_FROM_ADDRESS_CLOSE_CODE = 4429
TOO_MANY_WITHOUT_SESSION_CLOSE_CODE = 4503
MESSAGE_FLOOD_CLOSE_CODE = 1008
"""Policy violation: the connection sent messages faster than its budget."""
FLOOD_FACTOR = 2
"""Connections beyond ``FLOOD_FACTOR`` x the per-address cap are aborted at accept."""
ADDRESS_FLOOD = "address_flood"


@dataclass(frozen=True)
class Refusal:
    code: int
    reason: str
    """The close frame's reason (at most 123 bytes), for people."""
    why: str
    """The metrics label (``tradepro_ws_closed_by_server_total{reason}``)."""


FROM_ADDRESS = Refusal(
    TOO_MANY_FROM_ADDRESS_CLOSE_CODE,
    "too many connections from your address; close some, then retry",
    "too_many_from_address",
)
WITHOUT_SESSION = Refusal(
    TOO_MANY_WITHOUT_SESSION_CLOSE_CODE,
    "too many connections without a session; connect with your session token or retry",
    "too_many_without_session",
)


def message_flood(messages_per_s: float) -> Refusal:
    return Refusal(
        MESSAGE_FLOOD_CLOSE_CODE,
        f"too many messages: at most {messages_per_s:g} a second; one subscribe carries "
        "every channel",
        "message_flood",
    )


class MessageBudget:
    """A token bucket (``runtime/token_bucket.py``) of one connection's messages: ``per_s``
    a second, ``burst`` at most saved (a new connection starts full)."""

    __slots__ = ("_at", "_burst", "_clock", "_per_s", "_tokens")

    def __init__(
        self, per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._per_s = per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = clock()
        self._clock = clock

    def take(self) -> bool:
        """Spend one message; False when the budget is spent (the connection floods)."""
        now = self._clock()
        tokens = refilled(self._tokens, self._at, now, self._per_s, self._burst)
        self._at = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True


class ConnectionLimits:
    """Counts connections by address and those without a session (see the module)."""

    def __init__(
        self, per_address: int, anonymous: int, closed_by_server: Counter[str] | None = None
    ) -> None:
        self.per_address = per_address
        self.anonymous = anonymous
        self.by_address: Counter[str] = Counter()
        self.closed_by_server = Counter[str]() if closed_by_server is None else closed_by_server
        """Where connections aborted at accept are counted (as ``address_flood``)."""
        self._anonymous: set[object] = set()

    def connected(self, address: str) -> bool:
        """Count a new TCP connection; False when it should be aborted at once."""
        self.by_address[address] += 1
        if self.by_address[address] > FLOOD_FACTOR * self.per_address:
            self.closed_by_server[ADDRESS_FLOOD] += 1
            return False
        return True

    def disconnected(self, address: str) -> None:
        left = self.by_address[address] - 1
        if left > 0:
            self.by_address[address] = left
        else:
            del self.by_address[address]

    def admit(self, address: str, client: object, *, anonymous: bool) -> Refusal | None:
        """At the end of the handshake: None, or why ``client`` must be closed."""
        if self.by_address[address] > self.per_address:
            return FROM_ADDRESS
        if anonymous:
            if len(self._anonymous) >= self.anonymous:
                return WITHOUT_SESSION
            self._anonymous.add(client)
        return None

    def authenticated(self, client: object) -> None:
        self._anonymous.discard(client)

    def left(self, client: object) -> None:
        self._anonymous.discard(client)

    @property
    def without_session(self) -> int:
        return len(self._anonymous)


def address_of(transport: asyncio.BaseTransport) -> str:
    peer: Any = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)


def counted_connections(limits: ConnectionLimits) -> type[ServerConnection]:
    """A ``ServerConnection`` class (``serve(create_connection=...)``) that counts each TCP
    connection against its address in ``limits`` and aborts a flooding address's."""

    class CountedConnection(ServerConnection):
        address: str | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self.address = address_of(transport)
            if not limits.connected(self.address):
                cast(asyncio.Transport, transport).abort()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.address is not None:
                limits.disconnected(self.address)
                self.address = None
            super().connection_lost(exc)

    return CountedConnection
