"""The API's HTTP server: uvicorn on httptools, with limits that shed abusive clients.

uvicorn's httptools protocol has no limit on the size of a request's head (one client's
150 MiB header was buffered whole while every other request waited) and no time limit on
receiving it (a head trickled a byte every few seconds kept its connection forever, since
each byte cancels the keep-alive timer). ``guarded_protocol`` adds both, and a connection
cap that sheds idle connections first:

- **Head size**: more than ``max_head_bytes`` of request line and headers is answered
  ``431 {error: headers_too_large}`` at once, without feeding the rest to the parser. The
  connection is then half-closed and what the client still sends is read and dropped for
  at most ``linger_s`` (closing with unread data would reset the connection and could
  destroy the answer before the client reads it).
- **Head time**: a head must arrive whole within ``header_timeout_s`` of the connection's
  start or of its first bytes (on a kept-alive connection); otherwise the connection gets
  ``408 {error: request_timeout}`` (or is just closed if nothing at all was sent).
- **Body time**: the body must then arrive whole within ``body_timeout_s``; otherwise
  ``408 {error: request_timeout}`` (if no answer has started) and the connection is closed.
  A request whose body never comes would otherwise hold its connection for good.
- **Keep-alive**: uvicorn closes a connection idle for ``keep_alive_s`` after a response.
- **Connections**: at ``max_connections``, a new connection closes the connection that has
  been idle longest (between requests, or still waiting for its head); when none is idle,
  the new one is answered ``503 {error: server_busy}`` with ``Retry-After`` and closed. A
  request being served is never cut.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from tradepro.config import Settings

log = logging.getLogger("tradepro.api")

SPARE_FILES = 256
"""Open files kept for everything but client connections (database, Redis, logs, ...)."""


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = 16 * 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    max_connections: int = 2048
    linger_s: float = 2.0
    """How long the rest of a refused request is read and dropped before closing."""


def http_limits(settings: Settings) -> HttpLimits:
    return HttpLimits(
        max_head_bytes=settings.api_max_header_bytes,
        header_timeout_s=settings.api_header_timeout_s,
        body_timeout_s=settings.api_body_timeout_s,
        keep_alive_s=settings.api_keep_alive_s,
        max_connections=settings.api_max_connections,
    )


def open_files_for(max_connections: int, soft: int, hard: int) -> tuple[int, int]:
    """(the open-file limit to ask for, the connection cap that fits under it): the soft
    limit is raised towards ``max_connections + SPARE_FILES`` as far as the hard limit
    allows, and the cap lowered if even that is not enough (a connection accepted past
    the limit fails in ``accept`` instead of being answered)."""
    wanted = max_connections + SPARE_FILES
    if soft >= wanted:
        return soft, max_connections
    granted = wanted if hard < 0 or hard >= wanted else hard  # (a negative hard: unlimited)
    granted = max(granted, soft)
    return granted, max(1, min(max_connections, granted - SPARE_FILES))


def fit_to_open_files(limits: HttpLimits) -> HttpLimits:
    """``limits`` with a connection cap the process's open-file limit can hold (raising
    the soft limit where the hard one allows)."""
    try:
        import resource  # noqa: PLC0415 (POSIX only)
    except ImportError:
        return limits
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    granted, cap = open_files_for(limits.max_connections, soft, hard)
    if granted != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (granted, hard))
    if cap != limits.max_connections:
        log.warning(
            "API_MAX_CONNECTIONS=%d does not fit the open-file limit (%d): using %d",
            limits.max_connections, granted, cap,
        )  # fmt: skip
        return replace(limits, max_connections=cap)
    return limits


def http_server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for the API (``uvicorn.run(app, **options)`` / ``Config``)."""
    limits = fit_to_open_files(http_limits(settings))
    return {"http": guarded_protocol(limits), "timeout_keep_alive": limits.keep_alive_s}


def guarded_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """A protocol class with ``limits`` and its own registry of idle connections (one class
    per server, so two servers in one process never evict each other's connections)."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {
        "limits": limits, "idle": {},
    })  # fmt: skip


def refusal(
    status: int, error: str, message: str, default_headers: list[tuple[bytes, bytes]]
) -> bytes:
    """A whole ``{error, message}`` response that closes the connection."""
    body = orjson.dumps({"error": error, "message": message})
    lines = [STATUS_LINE[status]]
    lines.extend(name + b": " + value + b"\r\n" for name, value in default_headers)
    if status == 503:
        lines.append(b"retry-after: 1\r\n")
    lines.append(b"content-type: application/json\r\n")
    lines.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
    return b"".join(lines) + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size and time limit and a connection cap
    (see the module's notes). Built by ``guarded_protocol``."""

    limits: ClassVar[HttpLimits] = HttpLimits()
    idle: ClassVar[dict[GuardedHttpToolsProtocol, None]] = {}
    """Connections with no request in progress, the longest idle first."""

    _head_bytes: int | None = 0
    """Bytes of the request head received so far; None while a request's body is read."""
    _body_pending = False
    """The head is in, the body is not yet whole."""
    _timer: asyncio.TimerHandle | None = None
    """The deadline of the head, or of the body, being received."""
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections and not self._evict_idle():
            message = "the server has too many connections open; try again shortly"
            self._refuse(503, "server_busy", message)
            return
        self.idle[self] = None
        self._start_timer(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self.idle.pop(self, None)
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: read and drop
        self._feed(data)
        if self._timer is None and not self._done():
            # Armed only for a head or a body that one read did not bring whole (a
            # request that arrives at once costs no timer).
            if self._body_pending:
                self._start_timer(self.limits.body_timeout_s)
            elif self._head_bytes:
                self._start_timer(self.limits.header_timeout_s)

    def _feed(self, data: bytes) -> None:
        head_bytes = self._head_bytes
        if head_bytes is None:  # a body: the parser's and the app's limits apply
            super().data_received(data)
            return
        room = self.limits.max_head_bytes - head_bytes
        if len(data) <= room:
            self._head_bytes = head_bytes + len(data)
            super().data_received(data)
            return
        self._head_bytes = self.limits.max_head_bytes
        super().data_received(data[:room])  # may complete the head
        if self._done():
            return
        if self._reading_head():  # the head is still not whole
            limit = self.limits.max_head_bytes
            message = f"the request line and headers are over the limit of {limit} bytes"
            self._refuse(431, "headers_too_large", message)
            return
        self._feed(data[room:])

    # -- parser callbacks -----------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._stop_timer()
        self.idle.pop(self, None)
        self._body_pending = True  # until on_message_complete (at once without a body)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_bytes = 0  # what follows is the next request's head
        self._body_pending = False
        self._stop_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # waiting for the next request
            self.idle[self] = None

    # -- limits ---------------------------------------------------------------------------

    def _reading_head(self) -> bool:
        return self._head_bytes is not None

    def _done(self) -> bool:
        """Refused, or closing for another reason: nothing more to read."""
        return self._refused or self.transport.is_closing()

    def _evict_idle(self) -> bool:
        """Close the connection idle longest to make room; False if none is idle."""
        for connection in self.idle:
            if connection is not self:
                del self.idle[connection]
                connection._stop_timer()
                connection.transport.close()
                return True
        return False

    def _start_timer(self, delay_s: float) -> None:
        self._timer = self.loop.call_later(delay_s, self._late)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _late(self) -> None:
        """The head or the body did not arrive in time."""
        self._timer = None
        if self._done():
            return
        if self._body_pending:
            if self.cycle is not None and self.cycle.response_started:
                self.transport.close()  # an answer is on its way: no second one
                return
            seconds = f"{self.limits.body_timeout_s:g}"
            message = f"the request body did not arrive within {seconds} s"
        elif self._head_bytes:
            seconds = f"{self.limits.header_timeout_s:g}"
            message = f"the request headers did not arrive within {seconds} s"
        else:  # never said anything: nobody to answer
            self.transport.close()
            return
        self._refuse(408, "request_timeout", message)

    def _refuse(self, status: int, error: str, message: str) -> None:
        """Answer ``status`` and close, lingering so the client can read the answer."""
        self._refused = True
        self._stop_timer()
        self.idle.pop(self, None)
        transport = self.transport
        transport.write(refusal(status, error, message, self.server_state.default_headers))
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(self.limits.linger_s, transport.close)
