"""The embedded default's bus: both streams journaled in one SQLite file, no server.

Durability: the file runs in WAL mode with ``synchronous=NORMAL``. A commit is then in the
WAL (handed to the operating system) before ``publish`` returns, which survives the
process being killed at any moment (``kill -9``); only an operating-system crash or power
loss can drop the last commits, which ``synchronous=FULL`` would cost an fsync each to
prevent. That commit is what makes an acknowledged order durable.

Entry ids are the integer row ids as strings (``AUTOINCREMENT``, so an id is never reused
even after trimming everything). ``ts_us`` comes from the wall clock at append time but
never goes backwards: it is ``max(now_us, last_ts_us + 1)``, computed inside the inserting
transaction, so several processes appending to the same file stay monotonic.

Several processes may share the file (``busy_timeout`` makes writers wait for each other).
A blocked reader polls every ``poll_interval_s`` at first, then less and less often while
nothing comes (the gap doubles up to ``max_poll_interval_s``: an idle service costs a few
queries a second instead of hundreds); a publish through the same ``SqliteBus`` wakes its
readers at once. SQLite calls run on two worker threads (one writing, one
reading, each with its own connection), so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from tradepro.bus.base import START_ID, BusUnavailableError, Callback, Entry
from tradepro.bus.names import CALLBACK_QUEUE_MAX_BYTES, CALLBACK_QUEUE_MAXLEN

_T = TypeVar("_T")
_Row = tuple[Any, ...]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS engine_stream (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    ts_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS callback_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS stream_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_ts_us INTEGER NOT NULL
);
INSERT OR IGNORE INTO stream_clock (id, last_ts_us) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS callback_bytes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    total INTEGER NOT NULL
);
INSERT INTO callback_bytes (id, total)
    SELECT 1, (SELECT coalesce(sum(length(body)), 0) FROM callback_queue)
    WHERE NOT EXISTS (SELECT 1 FROM callback_bytes);
"""


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class SqliteBus:
    """``Bus`` on the tables ``engine_stream`` and ``callback_queue`` of one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        poll_interval_s: float = 0.002,
        max_poll_interval_s: float = 0.05,
        busy_timeout_s: float = 5.0,
        callback_maxlen: int = CALLBACK_QUEUE_MAXLEN,
        callback_max_bytes: int = CALLBACK_QUEUE_MAX_BYTES,
        clock_us: Callable[[], int] = wall_clock_us,
    ) -> None:
        self.path = path
        self.poll_interval_s = poll_interval_s
        self.max_poll_interval_s = max(poll_interval_s, max_poll_interval_s)
        self.callback_maxlen = callback_maxlen
        self.callback_max_bytes = callback_max_bytes
        self._cap_every = max(1, min(1000, callback_maxlen // 10))
        self._callbacks_since_cap = 0
        self._clock_us = clock_us
        self._writer = _SqliteThread(path, busy_timeout_s, "sqlite-bus-writer")
        self._reader = _SqliteThread(path, busy_timeout_s, "sqlite-bus-reader")
        self._entries_appended = _Signal()
        self._callbacks_appended = _Signal()

    async def publish(self, kind: str, payload: Mapping[str, object], request_id: str) -> Entry:
        encoded = orjson.dumps(payload if isinstance(payload, dict) else dict(payload))

        def append(connection: sqlite3.Connection) -> tuple[int, int]:
            with _write_transaction(connection):
                (ts_us,) = connection.execute(
                    "UPDATE stream_clock SET last_ts_us = max(?, last_ts_us + 1) WHERE id = 1 "
                    "RETURNING last_ts_us",
                    (self._clock_us(),),
                ).fetchall()[0]
                cursor = connection.execute(
                    "INSERT INTO engine_stream (request_id, kind, payload, ts_us) "
                    "VALUES (?, ?, ?, ?)",
                    (request_id, kind, encoded, ts_us),
                )
            return _row_id(cursor), ts_us

        entry_id, ts_us = await self._writer.run(append)
        self._entries_appended.notify()
        return Entry(str(entry_id), kind, request_id, ts_us, orjson.loads(encoded))

    async def read_entries(self, after_id: str, count: int, block_ms: int) -> list[Entry]:
        after = int(after_id)

        def select(connection: sqlite3.Connection) -> list[_Row]:
            return connection.execute(
                "SELECT id, request_id, kind, payload, ts_us FROM engine_stream "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (after, count),
            ).fetchall()

        rows = await self._poll(select, block_ms, self._entries_appended)
        return [_entry(row) for row in rows]

    async def last_entry_id(self) -> str:
        def select(connection: sqlite3.Connection) -> list[_Row]:
            return connection.execute("SELECT max(id) FROM engine_stream").fetchall()

        rows = await self._reader.run(select)
        return START_ID if rows[0][0] is None else str(rows[0][0])

    async def trim_entries(self, below_id: str) -> None:
        below = int(below_id)

        def trim(connection: sqlite3.Connection) -> None:
            with _write_transaction(connection):
                connection.execute("DELETE FROM engine_stream WHERE id < ?", (below,))

        await self._writer.run(trim)

    async def publish_callbacks_and_read(
        self, bodies: Sequence[bytes], after_id: str, count: int
    ) -> list[Entry]:
        await self.publish_callbacks(bodies)
        return await self.read_entries(after_id, count, 0)

    async def publish_callbacks(self, bodies: Sequence[bytes]) -> None:
        if not bodies:
            return
        self._callbacks_since_cap += len(bodies)
        cap = self._callbacks_since_cap >= self._cap_every
        if cap:
            self._callbacks_since_cap = 0
        rows = [(bytes(body),) for body in bodies]
        size = sum(len(body) for (body,) in rows)

        def append(connection: sqlite3.Connection) -> None:
            with _write_transaction(connection):
                connection.executemany("INSERT INTO callback_queue (body) VALUES (?)", rows)
                (total,) = connection.execute(
                    "UPDATE callback_bytes SET total = total + ? WHERE id = 1 RETURNING total",
                    (size,),
                ).fetchall()[0]
                if cap or total > self.callback_max_bytes:
                    self._trim_callbacks(connection, total)

        await self._writer.run(append)
        self._callbacks_appended.notify()

    def _trim_callbacks(self, connection: sqlite3.Connection, total: int) -> None:
        """Drop the oldest callbacks beyond ``callback_maxlen`` entries, then while the
        bodies exceed ``callback_max_bytes`` (never the newest), keeping the count."""
        (newest,) = connection.execute("SELECT max(id) FROM callback_queue").fetchall()[0]
        cut = newest - self.callback_maxlen  # ids are contiguous: only the head is deleted
        (dropped,) = connection.execute(
            "SELECT coalesce(sum(length(body)), 0) FROM callback_queue WHERE id <= ?", (cut,)
        ).fetchall()[0]
        total -= dropped
        if total > self.callback_max_bytes:
            oldest = connection.execute(
                "SELECT id, length(body) FROM callback_queue WHERE id > ? AND id < ? ORDER BY id",
                (cut, newest),
            )
            for row_id, length in oldest:
                if total <= self.callback_max_bytes:
                    break
                total, cut = total - length, row_id
            oldest.close()
        connection.execute("DELETE FROM callback_queue WHERE id <= ?", (cut,))
        connection.execute("UPDATE callback_bytes SET total = ? WHERE id = 1", (total,))

    async def read_callbacks(self, after_id: str, count: int, block_ms: int) -> list[Callback]:
        after = int(after_id)

        def select(connection: sqlite3.Connection) -> list[_Row]:
            return connection.execute(
                "SELECT id, body FROM callback_queue WHERE id > ? ORDER BY id LIMIT ?",
                (after, count),
            ).fetchall()

        rows = await self._poll(select, block_ms, self._callbacks_appended)
        return [Callback(str(row_id), bytes(body)) for row_id, body in rows]

    async def last_callback_id(self) -> str:
        last = await self.last_callback()
        return START_ID if last is None else last.entry_id

    async def last_callback(self) -> Callback | None:
        """The newest callback, or ``None`` when the queue is empty."""

        def select(connection: sqlite3.Connection) -> list[_Row]:
            return connection.execute(
                "SELECT id, body FROM callback_queue ORDER BY id DESC LIMIT 1"
            ).fetchall()

        rows = await self._reader.run(select)
        return Callback(str(rows[0][0]), bytes(rows[0][1])) if rows else None

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    async def _poll(
        self, select: Callable[[sqlite3.Connection], list[_Row]], block_ms: int, signal: _Signal
    ) -> list[_Row]:
        """Run ``select`` until it finds rows or ``block_ms`` passes (0: exactly once)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + block_ms / 1000
        gap_s = self.poll_interval_s
        while True:
            appended = signal.current()  # taken before the query, so no publish slips by
            rows = await self._reader.run(select)
            remaining_s = deadline - loop.time()
            if rows or block_ms <= 0 or remaining_s <= 0:
                return rows
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(gap_s, remaining_s)):
                    await appended.wait()
            gap_s = min(gap_s * 2, self.max_poll_interval_s)


class _Signal:
    """Wakes this process's readers when it appended rows (other processes are polled)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        return self._event

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()


class _SqliteThread:
    """One connection owned by one worker thread; calls run there, one at a time."""

    def __init__(self, path: Path, busy_timeout_s: float, name: str) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._connection: sqlite3.Connection | None = None
        self._closed = False

    async def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, work)
        except sqlite3.OperationalError as error:  # locked past busy_timeout, disk errors
            raise BusUnavailableError(f"SQLite bus {self._path}: {error}") from error

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._disconnect)
        self._executor.shutdown(wait=True)

    def _call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._connection is None:
            self._connection = _connect(self._path, self._busy_timeout_s)
        return work(self._connection)

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


_SETUP_LOCK = threading.Lock()
"""Connections of this process set the file up one at a time."""


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    # ``timeout`` is SQLite's busy_timeout: wait for another writer instead of failing.
    connection = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        with _SETUP_LOCK:
            _enable_wal(connection, busy_timeout_s)
        connection.execute("PRAGMA synchronous = NORMAL")
        with _write_transaction(connection):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
    except BaseException:
        connection.close()
        raise
    return connection


def _enable_wal(connection: sqlite3.Connection, busy_timeout_s: float) -> None:
    """Switch a fresh file to WAL. The switch needs an exclusive lock and SQLite does not
    wait for it (no busy handler), so two connections opening a new file at once (here or
    in another process) could fail with "database is locked": retry until the timeout."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


@contextlib.contextmanager
def _write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` takes the write lock first, so readers of the clock row agree."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _row_id(cursor: sqlite3.Cursor) -> int:
    if cursor.lastrowid is None:  # pragma: no cover - an INSERT always sets it
        raise RuntimeError("INSERT returned no row id")
    return cursor.lastrowid


def _entry(row: _Row) -> Entry:
    """Decode one journal row; a payload that is not JSON decodes as ``None``."""
    row_id, request_id, kind, payload, ts_us = row
    try:
        decoded: object = orjson.loads(payload)
    except (orjson.JSONDecodeError, TypeError):
        decoded = None
    return Entry(str(row_id), str(kind or ""), str(request_id or ""), int(ts_us), decoded)
