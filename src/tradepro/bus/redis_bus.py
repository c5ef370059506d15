"""The production bus: Redis Streams through ``redis.asyncio`` (with hiredis).

Entries are stream fields ``id`` (correlation id), ``kind`` and ``payload`` (JSON bytes);
callbacks have one field, ``body``. Stream ids are server-assigned, so an entry's ``ts_us``
(its id's milliseconds x 1000) is the same on every replay.

Three redis-py traps are handled here. A blocking ``XREAD`` must block for less than the
socket timeout, so ``block_ms`` is clamped well below it; the default asyncio pool raises
instead of waiting when its connections are busy, so this bus uses a
``BlockingConnectionPool`` (both in docs/architecture.md "Known traps"); and on Python 3.11 a
cancellation can be swallowed inside a command, so there each command runs in a task of
its own (``_cancellable``).

Commands are not retried by the client: an ``XADD`` whose reply was lost may or may not
have been appended, and only the caller (who owns the correlation id) can decide what a
retry means. Connection failures and timeouts surface as ``BusUnavailableError``; the pool
reconnects on the next call. A write Redis refuses for lack of memory (``OOM``, at
``maxmemory`` with ``noeviction``) surfaces as ``BusFullError``, one of them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar, cast

import hiredis
import orjson
from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.typing import EncodableT, FieldT

from tradepro.bus.base import (
    START_ID,
    BusFullError,
    BusUnavailableError,
    Callback,
    Entry,
    LeaseLostError,
)
from tradepro.bus.clients import redis_client
from tradepro.bus.names import (
    CALLBACK_QUEUE_MAX_BYTES,
    CALLBACK_QUEUE_MAXLEN,
    shard_names,
)

_T = TypeVar("_T")
_CANCELLATION_CAN_BE_SWALLOWED = sys.version_info < (3, 12)  # see _cancellable
_APPEND_CALLBACKS = """
local maxlen, maxbytes = tonumber(ARGV[1]), tonumber(ARGV[2])
if ARGV[3] ~= '' then
    local current = redis.call('GET', KEYS[3])
    if current ~= ARGV[3] then
        return redis.error_reply('FENCED epoch ' .. ARGV[3] .. ' is not the current epoch '
                                 .. tostring(current))
    end
end
local total = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
    total = tonumber(redis.call('GET', KEYS[2]) or '0')
end
for i = 4, #ARGV do
    redis.call('XADD', KEYS[1], '*', 'body', ARGV[i])
    total = total + #ARGV[i]
end
local length = redis.call('XLEN', KEYS[1])
local drop, after = 0, '-'
while length - drop > 1 and (length - drop > maxlen or total > maxbytes) do
    local oldest = redis.call('XRANGE', KEYS[1], after, '+', 'COUNT', 256)
    for _, entry in ipairs(oldest) do
        if length - drop <= 1 or (length - drop <= maxlen and total <= maxbytes) then break end
        local fields = entry[2]
        for f = 1, #fields, 2 do
            if fields[f] == 'body' then total = total - #fields[f + 1] end
        end
        drop = drop + 1
        after = '(' .. entry[1]
    end
end
if drop > 0 then redis.call('XTRIM', KEYS[1], 'MAXLEN', length - drop) end
redis.call('SET', KEYS[2], total)
return #ARGV - 3
"""
"""Append a batch of callbacks (atomically: a script), then drop the oldest while the
queue holds more than ARGV[1] entries or ARGV[2] bytes of bodies (KEYS[2] counts them),
always keeping the newest. Each dropped body is read once, when it is dropped.

Fencing: when ARGV[3] (the publisher's epoch) is not empty, nothing is appended unless
KEYS[3] (its shard's epoch counter, ``tradepro.bus.lease``) still holds that epoch; the
script then fails with ``FENCED``. The check and the append are one atomic script, so no
publish of a stale engine can slip in after another engine won the lease."""

_FENCED_TRIM = """
local current = redis.call('GET', KEYS[2])
if current ~= ARGV[2] then
    return redis.error_reply('FENCED epoch ' .. ARGV[2] .. ' is not the current epoch '
                             .. tostring(current))
end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[1])
"""
"""``XTRIM MINID ~`` of the engine stream, only while KEYS[2] holds the trimming engine's
epoch ARGV[2]: a stale primary's late trim could cut entries its successor (a standby that
was behind) has not read yet."""

_APPEND_ENTRIES = """
local ids = {}
for i = 1, #ARGV, 3 do
    ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'id', ARGV[i], 'kind', ARGV[i + 1],
                               'payload', ARGV[i + 2])
end
return ids
"""
"""Requests published in the same event-loop turn: one command (and one reply for hiredis
to parse) instead of a pipeline of XADDs whose replies redis-py parses one by one."""


class _HiredisPackingConnection(Connection):
    """Commands packed by hiredis in C, as redis-py's synchronous client already does."""

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]  # type: ignore[arg-type]
        except TypeError:
            return super().pack_command(*args)


def _ts_us(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0]) * 1000


_UNAVAILABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


_Outgoing = tuple[bytes, bytes, bytes, "asyncio.Future[bytes | str]"]
"""A publish waiting for its pipeline: (correlation id, kind, payload JSON, result)."""


class RedisBus:
    """``Bus`` on one shard's two Redis streams, its ``engine-stream`` and its
    ``callback-queue`` (named by ``tradepro.bus.names.shard_names``)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "",
        socket_timeout_s: float = 5.0,
        max_connections: int = 32,
        callback_maxlen: int = CALLBACK_QUEUE_MAXLEN,
        callback_max_bytes: int = CALLBACK_QUEUE_MAX_BYTES,
        client_name: str | None = None,
        shard: int = 0,
        tagged: bool = False,
        cluster: bool = False,
    ) -> None:
        self.callback_maxlen = callback_maxlen
        self.callback_max_bytes = callback_max_bytes
        self.shard = shard
        names = shard_names(namespace, shard, tagged=tagged)
        self.engine_stream = names.engine_stream
        self.callback_queue = names.callback_queue
        self._callback_keys = [self.callback_queue, names.callback_bytes, names.epoch]
        self._epoch = ""
        """Our fencing token as text; empty: publishes are not fenced (tools, tests)."""
        self.max_block_ms = max(1, int(socket_timeout_s * 1000) // 2)
        """A blocking read never waits longer than half the socket timeout."""
        if cluster:  # each command goes to the node of its key's slot (``bus.clients``)
            self._redis = redis_client(
                url,
                cluster=True,
                socket_timeout=socket_timeout_s,
                socket_connect_timeout=min(socket_timeout_s, 2.0),
                protocol=2,
                client_name=client_name,
            )
        else:
            pool = BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=socket_timeout_s,  # waiting for a free connection, then unavailable
                socket_timeout=socket_timeout_s,
                socket_connect_timeout=min(socket_timeout_s, 2.0),
                protocol=2,  # a ``?protocol=3`` in the URL wins; both reply shapes are read
                client_name=client_name,  # shows in CLIENT LIST: which service holds what
            )
            pool.connection_class = _HiredisPackingConnection
            self._redis = Redis.from_pool(pool)  # owns the pool: closing it disconnects all
        self._append_script = self._redis.register_script(_APPEND_CALLBACKS)
        self._outbox: list[_Outgoing] = []
        self._flush_scheduled = False
        self._flushes: set[asyncio.Future[None]] = set()

    def fence(self, epoch_key: str, epoch: int) -> None:
        """From now on, publish callbacks only while ``epoch_key`` holds ``epoch`` (the
        engine's lease, ``tradepro.bus.lease``); otherwise they fail with
        ``LeaseLostError`` and nothing is appended."""
        self._callback_keys[2] = epoch_key
        self._epoch = str(epoch)

    async def publish(self, kind: str, payload: Mapping[str, object], request_id: str) -> Entry:
        """Append one entry. Publishes made in the same event-loop turn (concurrent requests)
        travel together in one script call: one round trip instead of one each."""
        encoded = orjson.dumps(payload if isinstance(payload, dict) else dict(payload))
        raw_id, raw_kind = request_id.encode(), kind.encode()
        future: asyncio.Future[bytes | str] = asyncio.get_running_loop().create_future()
        self._outbox.append((raw_id, raw_kind, encoded, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._schedule_flush)
        entry_id = await future
        return Entry(_text(entry_id), kind, request_id, _ts_us(entry_id), orjson.loads(encoded))

    def _schedule_flush(self) -> None:
        self._flush_scheduled = False
        batch, self._outbox = self._outbox, []
        if batch:
            task = asyncio.ensure_future(self._flush(batch))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[_Outgoing]) -> None:
        try:
            if len(batch) == 1:
                raw_id, raw_kind, encoded, _ = batch[0]
                fields: dict[FieldT, EncodableT] = {"id": raw_id, "kind": raw_kind,
                                                    "payload": encoded}  # fmt: skip
                ids: list[bytes | str] = [
                    await _command("XADD", self._redis.xadd(self.engine_stream, fields))
                ]
            else:
                ids = await _command("XADD (batched)", self._xadd_all(batch))
        except BaseException as error:  # every waiter learns the outcome, then re-raise
            for *_, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (*_, future), entry_id in zip(batch, ids, strict=True):
            if not future.done():
                future.set_result(entry_id)

    async def _xadd_all(self, batch: list[_Outgoing]) -> list[bytes | str]:
        fields = [field for raw_id, raw_kind, encoded, _ in batch
                  for field in (raw_id, raw_kind, encoded)]  # fmt: skip
        ids: list[bytes | str] = await self._redis.execute_command(  # type: ignore[no-untyped-call]
            "EVAL", _APPEND_ENTRIES, 1, self.engine_stream, *fields
        )
        return ids

    async def read_entries(self, after_id: str, count: int, block_ms: int) -> list[Entry]:
        messages = await self._read(self.engine_stream, after_id, count, block_ms)
        return [_entry(entry_id, fields) for entry_id, fields in messages]

    async def last_entry_id(self) -> str:
        newest: list[tuple[bytes, dict[bytes, bytes]]] = cast(
            Any, await _command("XREVRANGE", self._redis.xrevrange(self.engine_stream, count=1))
        )
        return _text(newest[0][0]) if newest else START_ID

    async def trim_entries(self, below_id: str) -> None:
        # "MINID ~" drops whole stream nodes only: never an entry at or above ``below_id``,
        # and Redis does not stall to cut a node in the middle (exact trims did, ~4 ms).
        if self._epoch:  # fenced: a stale engine must not cut under its successor
            keys = (self.engine_stream, self._callback_keys[2])
            trimming = self._redis.eval(_FENCED_TRIM, 2, *keys, below_id, self._epoch)
        else:
            trimming = self._redis.xtrim(self.engine_stream, minid=below_id, approximate=True)
        await _command("XTRIM", trimming)

    async def publish_callbacks(self, bodies: Sequence[bytes]) -> None:
        if bodies:
            await _command("XADD (pipelined)", self._append_callbacks(bodies))

    async def _append_callbacks(self, bodies: Sequence[bytes]) -> None:
        # One Lua call: a batch is published whole or not at all (scripts are atomic), even
        # if this process dies mid-send, so after a restart the engine knows exactly which
        # replies went out; and it costs one command instead of N XADDs in MULTI/EXEC.
        limits: list[EncodableT] = [self.callback_maxlen, self.callback_max_bytes, self._epoch]
        await self._append_script(keys=self._callback_keys, args=[*limits, *bodies])

    async def publish_callbacks_and_read(
        self, bodies: Sequence[bytes], after_id: str, count: int
    ) -> list[Entry]:
        reply = await _command(
            "XADD + XREAD (pipelined)", self._append_and_read(bodies, after_id, count)
        )
        return [_entry(entry_id, fields) for entry_id, fields in reply]

    async def _append_and_read(
        self, bodies: Sequence[bytes], after_id: str, count: int
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        # EVAL, not EVALSHA: the script is ~200 bytes, Redis finds it compiled by its hash,
        # and a pipeline then needs no NOSCRIPT fallback (redis-py's costs a SCRIPT EXISTS
        # round trip on every execute).
        async with self._redis.pipeline(transaction=False) as pipe:
            if bodies:
                limits = (self.callback_maxlen, self.callback_max_bytes, self._epoch)
                pipe.eval(_APPEND_CALLBACKS, 3, *self._callback_keys, *limits, *bodies)
            pipe.xread({self.engine_stream: after_id}, count=count)
            replies: list[Any] = await pipe.execute()
        return _stream_messages(replies[-1], self.engine_stream)

    async def read_callbacks(self, after_id: str, count: int, block_ms: int) -> list[Callback]:
        messages = await self._read(self.callback_queue, after_id, count, block_ms)
        return [_callback(entry_id, fields) for entry_id, fields in messages]

    async def last_callback_id(self) -> str:
        last = await self.last_callback()
        return START_ID if last is None else last.entry_id

    async def last_callback(self) -> Callback | None:
        """The newest callback, or ``None`` when the queue is empty."""
        newest: list[tuple[bytes, dict[bytes, bytes]]] = cast(
            Any, await _command("XREVRANGE", self._redis.xrevrange(self.callback_queue, count=1))
        )
        if not newest:
            return None
        entry_id, fields = newest[0]
        return _callback(entry_id, fields)

    async def close(self) -> None:
        await self._redis.aclose()

    async def _read(
        self, stream: str, after_id: str, count: int, block_ms: int
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        # BLOCK 0 means "forever" to Redis; here 0 means "don't block", so omit BLOCK.
        block = min(block_ms, self.max_block_ms) if block_ms > 0 else None
        reading = self._redis.xread({stream: after_id}, count=count, block=block)
        reply = await _command("XREAD", reading)
        return _stream_messages(reply, stream)


async def _command(name: str, call: Awaitable[_T]) -> _T:
    """Run one Redis call; connection failures and timeouts become ``BusUnavailableError``."""
    try:
        if _CANCELLATION_CAN_BE_SWALLOWED:
            return await _cancellable(call)
        return await call
    except _UNAVAILABLE as error:
        raise BusUnavailableError(f"Redis {name} failed: {error}") from error
    except redis_errors.ResponseError as error:  # OutOfMemoryError, or one inside a script
        if "FENCED" in str(error):
            reason = str(error)[str(error).index("FENCED") :].splitlines()[0]
            raise LeaseLostError(f"Redis refused {name}: {reason}") from error
        if not isinstance(error, redis_errors.OutOfMemoryError) and "OOM" not in str(error):
            raise
        message = f"Redis refused {name}: out of memory (maxmemory reached): {error}"
        raise BusFullError(message) from error


async def _cancellable(call: Awaitable[_T]) -> _T:
    """Await ``call`` so that cancelling the caller always takes effect.

    On Python 3.11 ``asyncio.wait_for``, which redis-py wraps around every socket write,
    swallows a cancellation that arrives as the write completes: the command carries on
    and the caller's task never learns it was cancelled (a reader loop then runs forever).
    Measured here on 3.11; not on 3.12. So the call runs in a task of its own: the
    caller's cancellation takes effect at once, and the call is cancelled again until it
    has really stopped (which returns its connection to the pool).
    """
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.05)
        if not task.cancelled():
            task.exception()  # retrieved: a late failure is of no interest now
        raise


def _stream_messages(reply: Any, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The messages of ``stream`` in an XREAD reply (RESP2 list or RESP3 map shape)."""
    if not reply:
        return []
    if isinstance(reply, Mapping):
        for key, value in reply.items():
            if _text(key) == stream:
                return list(value[0] if value and isinstance(value[0], list) else value)
        return []
    for key, messages in reply:
        if _text(key) == stream:
            return list(messages)
    return []


def _entry(entry_id: bytes | str, fields: Mapping[bytes, bytes]) -> Entry:
    """Decode one engine-stream message; anything malformed decodes, it never raises."""
    text_id = _text(entry_id)
    try:
        payload: object = orjson.loads(fields.get(b"payload", b""))
    except orjson.JSONDecodeError:
        payload = None
    return Entry(
        entry_id=text_id,
        kind=_text(fields.get(b"kind", b"")),
        request_id=_text(fields.get(b"id", b"")),
        ts_us=int(text_id.partition("-")[0]) * 1000,
        payload=payload,
    )


def _callback(entry_id: bytes, fields: Mapping[bytes, bytes]) -> Callback:
    return Callback(_text(entry_id), fields.get(b"body", b""))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
