"""Open positions read from PostgreSQL packed by PostgreSQL itself.

A restore of millions of positions used to decode every row in Python (asyncpg builds a
record and an object per field), first in the engine's process, then in a helper process
on the other core; either way one of the two cores spent seconds decoding. Here the
server does it: each chunk of positions (in seq order) comes back as one row of a few byte
strings, one per ``Position`` field (``string_agg`` of each value's binary form:
big-endian 64-bit integers, the order ids' text, the owner as an index into the accounts
the engine has just read, the asset and side as an index into the engine's books), which
the engine turns into Python lists in C (``array.tolist``, string slicing). The next chunk
is asked for before this one is unpacked, so the server reads it on its own core while
the engine rebuilds.

The accounts' side of the positions comes the same way from one ``GROUP BY``
(``ACCOUNT_POSITIONS_SQL``): each account's locked margin and the seqs of its open
positions, which the engine keeps as they are until the account is first used
(``Restorer.add_account_positions``). That query runs on a second connection whose
transaction imports the engine's snapshot (``pg_export_snapshot``), so both see one state.

No value may be NULL inside a ``string_agg`` (it would be skipped and shift every later
value): missing levels travel as ``NULL_LEVEL``, an owner that is not among the accounts as
-1 and an unknown asset or side as book 0, and the engine refuses those two.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from array import array
from collections.abc import AsyncGenerator, Callable, Sequence
from operator import itemgetter
from typing import Any

from tradepro.domain.positions import Position

NULL_LEVEL = -1
"""How a missing take-profit, stop-loss or slippage travels: no such value is stored
(levels are prices, above 0; slippage is at least 0), and a small int is one object that
Python shares, so a chunk's missing levels leave no freed objects behind among the kept ones."""
ID_LENGTH = 36
"""Characters of a canonical UUID."""
CHUNK_ROWS = 100_000
"""Positions per chunk: about 10 MB in flight, whatever the number of positions."""
_SWAP = sys.byteorder == "little"
"""PostgreSQL's binary integers are big-endian."""
_NULLABLE = ("take_profit", "stop_loss", "slippage_bps", "trailing_stop")
_PACKED_FIELDS = tuple(name for name in Position._fields if name != "side")
"""The fields a chunk carries, in order (the side travels with the asset)."""
_TYPECODES = {"user_id": "i", "asset": "h"}
"""Array type codes of the 32- and 16-bit fields (the others are 64-bit)."""
_FIRST, _SECOND = itemgetter(0), itemgetter(1)
_none_for_null: Callable[[int, int], int | None] = {NULL_LEVEL: None}.get
"""``_none_for_null(value, value)``: None for ``NULL_LEVEL``, else the value (in C)."""


class PackedPositionsError(ValueError):
    """The database holds a position the engine cannot take (no owner, unknown asset)."""


def _packed(name: str) -> str:
    """The ``string_agg`` of one ``Position`` field."""
    if name == "order_id":
        value = "p.order_id::text"
    elif name == "user_id":
        value = "int4send(coalesce(owner.n, -1))"
    elif name == "asset":
        value = "int2send(coalesce(array_position($4::text[], p.asset || ' ' || p.side), 0)::int2)"
    elif name in _NULLABLE:
        value = f"int8send(coalesce(p.{name}::int8, {NULL_LEVEL}))"
    else:
        value = f"int8send(p.{name}::int8)"
    return f"string_agg({value}, '')"


CHUNK_SQL = f"""
WITH owner AS (
    SELECT id, (row_number() OVER (ORDER BY created_at, id) - 1)::int4 AS n
    FROM users WHERE engine_shard = $1
)
SELECT {", ".join(map(_packed, _PACKED_FIELDS))}
FROM (
    SELECT * FROM open_positions
    WHERE shard = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $5
) AS p LEFT JOIN owner ON owner.id = p.user_id
"""  # noqa: S608 (built from the constant field names)
"""One chunk: the positions of shard $1 with a seq above $2 and at most $3, no more than
$5 of them, with $4 the engine's books as "asset side" strings. The owners are numbered
in the order the engine reads its accounts (``SnapshotStore._accounts``). Every aggregate
reads the same rows in the same order; that the order is the seqs' is checked on arrival
(``unpack_chunk``)."""

CHUNK_END_SQL = """
SELECT seq FROM open_positions WHERE shard = $1 AND seq > $2 ORDER BY seq OFFSET $3 LIMIT 1
"""
"""The seq that ends the chunk after seq $2 when it holds $3 + 1 positions; no row when
fewer are left (the last chunk). An index-only walk, a few milliseconds per chunk."""

LAST_SEQ_SQL = "SELECT max(seq) FROM open_positions WHERE shard = $1"
"""The highest seq of the shard's open positions (one index entry)."""

MAX_SEQ = (1 << 63) - 1
"""Above every seq: the upper end of the last chunk."""
SPANS_AT_MOST = 2_000
"""Chunks are spans of ``CHUNK_ROWS`` seqs (no cut to find, and never more rows than
that: seqs are unique) unless that makes more chunks than this (seqs spread far apart by
closed positions); then each chunk is cut (``CHUNK_END_SQL``)."""

ACCOUNT_POSITIONS_SQL = """
SELECT user_id::text, sum(margin)::int8, string_agg(int8send(seq), '')
FROM open_positions WHERE shard = $1 GROUP BY user_id
"""
"""Per owner: locked margin and the seqs of its open positions (in no particular order)."""

SESSION_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")
"""For the restore's transactions: compiling these queries cost more than it saved, and
the grouping fits in memory instead of spilling to disk."""


async def read_chunks(
    drivers: Sequence[Any], shard: int, books: Sequence[str], account_ids: Sequence[str]
) -> AsyncGenerator[list[list[Any]], None]:
    """The open positions of ``shard`` in seq order, as chunks of columns for
    ``Restorer.add_position_columns``, read through ``drivers`` (asyncpg connections whose
    transactions see one snapshot: the restore's and those that imported it). ``books``
    are the "asset side" names; ``account_ids`` the accounts in the order the engine read
    them.

    Each connection packs a chunk of its own at the same time as the others, the next
    ones are asked for before this one is handed over, and at most one chunk per
    connection waits unread: the server packs on as many backends (cores) as there are
    connections while the engine rebuilds, in bounded memory. Chunks are spans of seqs
    (or cut by seq, ``SPANS_AT_MOST``) so that none depends on the previous one's rows;
    a cut chunk's last seq must be the end it was cut at."""
    if not drivers:
        raise ValueError("no connection to read the positions through")
    chunks = _ChunkReader(drivers, shard, books)
    try:
        end = 0
        while end != MAX_SEQ:
            record, end, cut = await chunks.next()
            await asyncio.sleep(0)  # let the next requests go out before the caller works
            if record is None or record[0] is None:  # no rows: a span may have none
                if cut and end != MAX_SEQ:
                    raise PackedPositionsError("a chunk of open positions came back empty")
                continue
            last_seq = int.from_bytes(record[0][-8:], "big", signed=True)
            if (end not in (last_seq, MAX_SEQ)) if cut else last_seq > end:
                raise PackedPositionsError("a chunk of open positions did not come in seq order")
            yield unpack_chunk(tuple(record), books, account_ids, last_seq)
    finally:
        await chunks.close()


class _ChunkReader:
    """Chunks asked for on every connection, handed over in seq order (``next``)."""

    def __init__(self, drivers: Sequence[Any], shard: int, books: Sequence[str]) -> None:
        self.shard = shard
        self.books = list(books)
        self.after: int | None = 0
        """Where the next chunk to cut starts (seqs start at 1); None once the last is cut."""
        self.cutting = asyncio.Lock()
        self.results: dict[int, asyncio.Future[tuple[Any, int, bool]]] = {}
        self.spans: bool | None = None
        """Whether chunks are spans of seqs (or cut); None until the highest seq is known."""
        self.last_seq = 0
        self.taken = 0
        """Chunks handed over by ``next``."""
        self.cut = 0
        """Chunks cut so far."""
        self.room = asyncio.Semaphore(len(drivers))
        """At most one chunk per connection asked for and not yet handed over."""
        self.workers = [asyncio.ensure_future(self._work(driver)) for driver in drivers]

    def _result(self, number: int) -> asyncio.Future[tuple[Any, int, bool]]:
        future = self.results.get(number)
        if future is None:
            future = self.results[number] = asyncio.get_running_loop().create_future()
        return future

    async def _work(self, driver: Any) -> None:
        """Cut the next chunk and ask for it, again and again, while there is room."""
        while True:
            await self.room.acquire()
            async with self.cutting:
                start = self.after
                if start is None:  # the last chunk is cut
                    self.room.release()
                    return
                result = self._result(self.cut)
                self.cut += 1
                try:
                    end = await self._end(driver, start)
                except BaseException as error:
                    self.after = None  # the others stop cutting
                    _fail(result, error)
                    raise
                self.after = None if end == MAX_SEQ else end
                cut = not self.spans
            try:
                record = await driver.fetchrow(
                    CHUNK_SQL, self.shard, start, end, self.books, CHUNK_ROWS
                )
            except BaseException as error:
                _fail(result, error)
                raise
            result.set_result((record, end, cut))

    async def _end(self, driver: Any, start: int) -> int:
        """Where the chunk after seq ``start`` ends (``MAX_SEQ``: the last chunk)."""
        if self.spans is None:
            last_seq = await driver.fetchval(LAST_SEQ_SQL, self.shard)
            self.last_seq = 0 if last_seq is None else int(last_seq)
            self.spans = (self.last_seq - start) // CHUNK_ROWS < SPANS_AT_MOST
        if self.spans:
            end = start + CHUNK_ROWS
            return MAX_SEQ if end >= self.last_seq else end
        cut = await driver.fetchval(CHUNK_END_SQL, self.shard, start, CHUNK_ROWS - 1)
        return MAX_SEQ if cut is None else int(cut)

    async def next(self) -> tuple[Any, int, bool]:
        """The next chunk's record, the seq it ends at (``MAX_SEQ`` for the last) and
        whether it was cut there (else it is a span, which may end before)."""
        number = self.taken
        self.taken += 1
        try:
            return await self._result(number)
        finally:
            del self.results[number]
            self.room.release()

    async def close(self) -> None:
        """Stop asking (a worker still waiting for its chunk is cancelled: only when the
        restore failed, whose connections are then thrown away)."""
        for worker in self.workers:
            worker.cancel()
        for worker in self.workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
        for future in self.results.values():  # failures nobody will read
            if future.done() and not future.cancelled():
                future.exception()


def unpack_chunk(
    record: Sequence[Any], books: Sequence[str], account_ids: Sequence[str], last_seq: int
) -> list[list[Any]]:
    """One ``CHUNK_SQL`` row as one list per ``Position`` field (the side as its string)."""
    columns: list[list[Any]] = []
    for name, part in zip(_PACKED_FIELDS, record, strict=True):
        if name == "order_id":
            text: str = part
            ends = range(ID_LENGTH, len(text) + 1, ID_LENGTH)
            columns.append(
                list(map(text.__getitem__, map(slice, range(0, len(text), ID_LENGTH), ends)))
            )
            continue
        numbers = array(_TYPECODES.get(name, "q"))
        numbers.frombytes(part)
        if _SWAP:
            numbers.byteswap()
        if name == "user_id":
            if numbers and min(numbers) < 0:
                raise PackedPositionsError("an open position's owner is not an account")
            columns.append(list(map(account_ids.__getitem__, numbers)))
        elif name == "asset":
            if numbers and min(numbers) < 1:
                raise PackedPositionsError("an open position has an unknown asset or side")
            pairs = [("", ""), *(book.split(" ") for book in books)]  # books count from 1
            columns.append(list(map(_FIRST, map(pairs.__getitem__, numbers))))
            columns.append(list(map(_SECOND, map(pairs.__getitem__, numbers))))
        elif name in _NULLABLE:
            columns.append(_levels(numbers))
        else:
            columns.append(numbers.tolist())
    seqs = columns[0]
    if seqs != sorted(seqs) or not seqs or seqs[-1] != last_seq:
        raise PackedPositionsError("a chunk of open positions did not come in seq order")
    return columns


def _fail(result: asyncio.Future[Any], error: BaseException) -> None:
    """Hand ``error`` to whoever waits for ``result`` (a cancellation as one)."""
    if isinstance(error, asyncio.CancelledError):
        result.cancel()
    else:
        result.set_exception(error)


def _levels(numbers: array[int]) -> list[Any]:
    """A nullable column's values, None for ``NULL_LEVEL``. A column is often all one or
    the other (no trailing stops, say): counting first, in C, spares the mapping then."""
    missing = numbers.count(NULL_LEVEL)
    if missing == len(numbers):
        return [None] * missing
    values = numbers.tolist()
    return list(map(_none_for_null, values, values)) if missing else values


def snapshot_id_literal(snapshot_id: str) -> str:
    """A snapshot id as PostgreSQL makes them (hex digits and dashes), or refused: it is
    put in SQL text (``SET TRANSACTION SNAPSHOT`` takes no bind parameter)."""
    if not snapshot_id or any(c not in "0123456789ABCDEFabcdef-" for c in snapshot_id):
        raise ValueError(f"not a snapshot id: {snapshot_id!r}")
    return f"'{snapshot_id}'"
