"""Request/response over the streams (docs/architecture.md "Streams: the bus contract").

A request registers a waiter under its correlation id *before* it publishes, so a reply
can never arrive unannounced. One reader task per engine shard follows that shard's
``callback-queue`` from the last id it has seen (never from "now" in a loop, so a reply
landing between two reads is still read) and resolves the waiter whose id is the ``id``
inside the reply, whatever the order replies arrive in. The readers outlive bus outages:
they back off with jitter and resume from the last seen id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from tradepro.bus.base import START_ID, Bus, BusUnavailableError
from tradepro.bus.shards import shard_buses
from tradepro.domain.order_ids import RANDOM_BITS, new_order_id
from tradepro.runtime.backoff import Backoff
from tradepro.runtime.retry import RetryPause

log = logging.getLogger("tradepro.bus.requests")

Subscriber = Callable[[dict[str, Any]], None]
"""Sees the callback bodies of the statuses it subscribed to, in stream order (the
WebSocket fan-out, the API's recent closes and signed-out sessions). The body may be
shared with the waiting request: read it, never change it."""

EVENT_STATUSES = frozenset(
    {
        "created",
        "closed",
        "placed",
        "filled",
        "canceled",
        "expired",
        "amended",
        "modified",
        "session_ended",
        "reset",
        "deposit",
    }
)
"""The statuses that announce something to everyone (``protocol.kinds``: ``ORDER_EVENTS``,
``ACCOUNT_EVENTS`` and ``SESSION_ENDED``; a unit test keeps them equal): what a subscriber
sees unless it names its own. Every other status (an account report, a registration, a refusal) is a
reply, of interest only to the process that asked."""


class TimeOrderedIds:
    """Fresh correlation ids: time-ordered UUIDs (version 7, made now) whose 74 random bits
    come from the OS's CSPRNG, read 2.5 KiB at a time.

    Time-ordered because a create-order's correlation id is also its order id, and the
    engine accepts only such ids (``tradepro.domain.order_ids``). ``uuid.uuid4()`` made
    one system call per id, 3-4 % of the API's CPU per order; the pool is refilled in a
    forked child (never two processes with the same bytes)."""

    def __init__(self, batch: int = 256, clock_ms: Callable[[], int] | None = None) -> None:
        self._size = 10 * batch
        self._pool = b""
        self._at = 0
        self._pid = 0
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)

    def __call__(self) -> str:
        if self._at >= len(self._pool) or self._pid != os.getpid():
            self._pool, self._at, self._pid = os.urandom(self._size), 0, os.getpid()
        bits = int.from_bytes(self._pool[self._at : self._at + 10], "big")
        self._at += 10
        return new_order_id(self._clock_ms(), bits >> (80 - RANDOM_BITS))


new_request_id = TimeOrderedIds()
"""A fresh correlation id (a time-ordered random UUID: also a valid new order id)."""


_ID_FIRST = b'{"id":"'
_STATUS_NEXT = b',"status":"'


def peek_reply(raw: bytes) -> tuple[str, str] | None:
    """The correlation id and the status of a callback body, read from its fixed prefix
    ``{"id":"<id>","status":"<status>"`` (the engine writes ``id`` first and ``status``
    second, without spaces) without parsing the JSON; None when the body does not start
    exactly so (or escapes either), and must be decoded to be known."""
    if not raw.startswith(_ID_FIRST):
        return None
    id_end = raw.find(b'"', 7)
    if id_end < 0 or not raw.startswith(_STATUS_NEXT, id_end + 1):
        return None
    status_start = id_end + 1 + len(_STATUS_NEXT)
    status_end = raw.find(b'"', status_start)
    if status_end < 0:
        return None
    request_id, status = raw[7:id_end], raw[status_start:status_end]
    if b"\\" in request_id or b"\\" in status:  # an escape: leave it to the decoder
        return None
    return request_id.decode("utf-8", "replace"), status.decode("utf-8", "replace")


class RequestTimeoutError(TimeoutError):
    """No reply in time. The request may still have been executed: the outcome is unknown."""


class Requester:
    """Sends requests on ``engine-stream`` and waits for their ``callback-queue`` replies."""

    def __init__(
        self,
        bus: Bus,
        *,
        timeout_s: float = 5.0,
        read_count: int = 1000,
        block_ms: int = 1000,
        backoff_base_s: float = 0.05,
        backoff_cap_s: float = 2.0,
    ) -> None:
        self.bus = bus
        self.timeout_s = timeout_s
        self.read_count = read_count
        self.block_ms = block_ms
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._shards = shard_buses(bus)
        self.last_seen_ids: list[str | None] = [None] * len(self._shards)
        """Per shard: the id of the last callback read from its queue."""
        self.reading: list[bool] = [False] * len(self._shards)
        """Per shard: whether its queue's last read succeeded (False before ``start``)."""
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._subscribers: list[tuple[Subscriber, frozenset[str] | None]] = []
        self._wanted: frozenset[str] = frozenset()
        """Every status some subscriber wants: the others are decoded only when awaited."""
        self._wants_all = False
        self._readers: list[asyncio.Task[None]] = []
        self.decoded = 0
        """Callbacks parsed as JSON by this process (awaited replies and subscribed events)."""
        self.skipped = 0
        """Callbacks passed over unparsed: other processes' replies, unwanted events."""

    @property
    def last_seen_id(self) -> str | None:
        """The id of the last callback read (of shard 0 when sharded)."""
        return self.last_seen_ids[0]

    async def start(self) -> None:
        """Start reading every shard's queue after its newest callback now (raises if the
        bus is down)."""
        if self._readers:
            return
        starts = await asyncio.gather(*(shard.last_callback_id() for shard in self._shards))
        self.last_seen_ids = list(starts)
        self.reading = [True] * len(self._shards)
        self._readers = [
            asyncio.create_task(self._read_forever(number), name=f"callback-reader-{number}")
            for number in range(len(self._shards))
        ]

    async def stop(self) -> None:
        """Stop the readers; requests still waiting fail with ``BusUnavailableError``."""
        readers, self._readers = self._readers, []
        for reader in readers:
            reader.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        stopped = BusUnavailableError("the requester stopped before the reply arrived")
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_exception(stopped)

    def subscribe(
        self, subscriber: Subscriber, statuses: Iterable[str] | None = EVENT_STATUSES
    ) -> Callable[[], None]:
        """Call ``subscriber`` with every callback body of ``statuses`` (by default the
        announcements, ``EVENT_STATUSES``; None: every body, which makes this process
        decode every callback: for tools); returns the unsubscribe function."""
        entry = (subscriber, None if statuses is None else frozenset(statuses))
        self._subscribers.append(entry)
        self._update_wanted()

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(entry)
            self._update_wanted()

        return unsubscribe

    def _update_wanted(self) -> None:
        wanted = [statuses for _, statuses in self._subscribers]
        self._wants_all = None in wanted
        self._wanted = frozenset().union(*(s for s in wanted if s is not None))

    async def send_request_and_wait(
        self,
        kind: str,
        payload: Mapping[str, object],
        *,
        request_id: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Publish one request and return the reply whose ``id`` is its correlation id.

        Raises ``RequestTimeoutError`` when no reply comes within ``timeout_s`` (default
        ``self.timeout_s``; the outcome is then unknown) and ``BusUnavailableError`` when
        the request could not be published.
        """
        if not self._readers:
            raise RuntimeError("Requester.start() has not been awaited")
        request_id = request_id or new_request_id()
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(request_id, []).append(future)
        try:
            async with asyncio.timeout(timeout_s):
                await self.bus.publish(kind, payload, request_id)
                return await future
        except TimeoutError:
            message = (
                f"no reply to {kind} request {request_id} within {timeout_s:g}s; "
                "the outcome is unknown (it may still have been executed)"
            )
            raise RequestTimeoutError(message) from None
        finally:
            self._forget(request_id, future)

    @property
    def pending(self) -> int:
        """How many requests are waiting for their reply."""
        return sum(len(futures) for futures in self._waiters.values())

    def _forget(self, request_id: str, future: asyncio.Future[dict[str, Any]]) -> None:
        futures = self._waiters.get(request_id, [])
        if future in futures:
            futures.remove(future)
        if not futures:
            self._waiters.pop(request_id, None)

    async def _read_forever(self, shard: int) -> None:
        bus = self._shards[shard]
        pause = RetryPause(
            "reading callbacks" if len(self._shards) == 1 else f"reading shard {shard}'s callbacks",
            log,
            backoff=Backoff(self.backoff_base_s, self.backoff_cap_s),
            expected=BusUnavailableError,
        )
        while True:
            try:
                callbacks = await bus.read_callbacks(
                    self.last_seen_ids[shard] or START_ID, self.read_count, self.block_ms
                )
            except Exception as error:  # noqa: BLE001 - the reader must outlive any failure
                self.reading[shard] = False
                await pause.after(error)
                continue
            self.reading[shard] = True
            pause.succeeded()
            for callback in callbacks:
                self.last_seen_ids[shard] = callback.entry_id
                self._dispatch(callback.body)

    def _dispatch(self, raw: bytes) -> None:
        """Decode a callback only if a request here awaits it or a subscriber wants its
        status: every process reads every callback, and most are nobody's business here
        (one user polling 600 positions once cost every other reader a 175 KB parse)."""
        peeked = peek_reply(raw)
        if (
            peeked is not None
            and peeked[0] not in self._waiters
            and peeked[1] not in self._wanted
            and not self._wants_all
        ):
            self.skipped += 1
            return
        self.decoded += 1
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("ignoring a callback that is not JSON: %.80r", raw)
            return
        if not isinstance(body, dict):
            return
        status = body.get("status")
        if not isinstance(status, str):
            status = ""
        for subscriber, wanted in list(self._subscribers):
            if wanted is not None and status not in wanted:
                continue
            try:
                subscriber(body)
            except Exception:
                log.exception("callback subscriber failed")
        request_id = body.get("id")
        futures = self._waiters.get(request_id) if isinstance(request_id, str) else None
        for future in futures or ():
            if not future.done():
                future.set_result(body)
