"""Open positions read from PostgreSQL by a helper process, packed column-wise.

Why a second process: on the 2-core machine a restore of millions of positions was one
core doing everything in turn: waiting for PostgreSQL's next chunk, decoding its rows
(asyncpg builds a record and a Python object per field), turning rows into columns, and
only then rebuilding positions, which is what the engine's own process must do. The helper
does the first three on the other core, as the engine rebuilds, and hands each chunk over
as a few flat byte strings (64-bit integers, the ids' ASCII), which the engine turns into
Python lists in C (``array.tolist``, string slicing), a small part of decoding rows.

The helper sees exactly the engine's snapshot: the engine's repeatable-read transaction
exports its snapshot (``pg_export_snapshot``) and the helper's transaction imports it
(``SET TRANSACTION SNAPSHOT``) while the engine's stays open. Its connection string comes
on its standard input (never on a command line); chunks go to its standard output, each a
frame: a little-endian length, then the parts' lengths, then the parts (``_pack``). An
empty frame ends the stream; anything else (an error: a traceback on standard error and a
non-zero exit) makes the engine's restore fail as a database error does, and be retried.

Run as ``python -m tradepro.db.position_reader`` by ``read_positions`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import struct
import subprocess
import sys
import threading
from array import array
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import IO, Any

import orjson

from tradepro.domain.positions import Position

NULL = -(1 << 63)
"""How a missing take-profit, stop-loss or slippage travels (no such value is stored)."""
ID_LENGTH = 36
"""Characters of a canonical UUID."""
_LENGTH = struct.Struct("<Q")
_PARTS = len(Position._fields) + 1
"""A chunk's parts: one per ``Position`` field, then its (asset, side) table."""
_PARTS_HEADER = struct.Struct(f"<{_PARTS}Q")
_INT_FIELDS = frozenset(range(len(Position._fields))) - {1, 2, 3, 4}
"""Fields sent as 64-bit integers: all but the order id, owner, asset and side."""
_NULLABLE = frozenset(
    Position._fields.index(name)
    for name in ("take_profit", "stop_loss", "slippage_bps", "trailing_stop")
)
_AHEAD_CHUNKS = 8
"""Chunks the engine's reader thread holds at most before the helper has to wait."""
_none_for_null: Callable[[int, int], int | None] = {NULL: None}.get
"""``_none_for_null(value, value)``: None for ``NULL``, else the value (in C, by ``map``)."""
_COLUMNS = ", ".join(
    f"{name}::text" if name in ("order_id", "user_id") else name for name in Position._fields
)
_POSITIONS_SQL = f"SELECT {_COLUMNS} FROM open_positions WHERE shard = $1 ORDER BY seq"  # noqa: S608 (the columns are the fields' constant names)


async def read_positions(
    dsn: str, snapshot_id: str, shard: int, account_ids: Sequence[str], chunk_rows: int
) -> AsyncGenerator[list[list[Any]], None]:
    """The open positions of ``shard`` in the exported snapshot ``snapshot_id``, in seq
    order, as chunks of columns (``Restorer.add_position_columns``). ``account_ids`` are the
    accounts in the order the helper reads them (the owner column arrives as indexes)."""
    helper = subprocess.Popen(  # noqa: S603 (this interpreter, this package's module)
        [sys.executable, "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert helper.stdin is not None and helper.stdout is not None
    order = {"dsn": dsn, "snapshot": snapshot_id, "shard": shard, "chunkRows": chunk_rows}
    helper.stdin.write(orjson.dumps(order))
    helper.stdin.close()
    frames: queue.Queue[bytes | None] = queue.Queue(_AHEAD_CHUNKS)
    stopping = threading.Event()
    reader = threading.Thread(
        target=_read_frames, args=(helper.stdout, frames, stopping), daemon=True
    )
    reader.start()
    try:
        while frame := await asyncio.to_thread(frames.get):
            yield _unpack(frame, account_ids)
        if frame is None:
            helper.wait()
            problem = helper.stderr.read().decode(errors="replace") if helper.stderr else ""
            raise RuntimeError(f"reading the open positions failed: {problem[-2000:]}")
    finally:
        stopping.set()
        if helper.poll() is None:
            helper.kill()
        reader.join()
        helper.wait()
        for stream in (helper.stdout, helper.stderr):
            if stream is not None:
                stream.close()


def _read_frames(
    stream: IO[bytes], frames: queue.Queue[bytes | None], stopping: threading.Event
) -> None:
    """Move frames from the helper's output to ``frames`` (b"" at the end, None if the
    stream broke off) until ``stopping``: the pipe is emptied while the engine's thread
    rebuilds positions."""
    try:
        while len(head := stream.read(_LENGTH.size)) == _LENGTH.size:
            (length,) = _LENGTH.unpack(head)
            frame = stream.read(length)
            if len(frame) != length:
                break
            if not _hand_over(frames, frame, stopping) or not length:
                return
    except (OSError, ValueError):
        pass
    _hand_over(frames, None, stopping)


def _hand_over(
    frames: queue.Queue[bytes | None], frame: bytes | None, stopping: threading.Event
) -> bool:
    """Put ``frame`` in the queue unless the reading stops first (then False)."""
    while not stopping.is_set():
        with contextlib.suppress(queue.Full):
            frames.put(frame, timeout=0.05)
            return True
    return False


def _unpack(frame: bytes, account_ids: Sequence[str]) -> list[list[Any]]:
    lengths = _PARTS_HEADER.unpack_from(frame)
    parts: list[memoryview] = []
    offset = _PARTS_HEADER.size
    view = memoryview(frame)
    for length in lengths:
        parts.append(view[offset : offset + length])
        offset += length
    columns: list[list[Any]] = []
    for field, part in enumerate(parts[:-1]):
        if field in _INT_FIELDS:
            numbers = array("q")
            numbers.frombytes(part)
            values: list[Any] = numbers.tolist()
            if field in _NULLABLE:
                values = list(map(_none_for_null, values, values))
            columns.append(values)
        elif field == 1:
            text = str(part, "ascii")
            ends = range(ID_LENGTH, len(text) + 1, ID_LENGTH)
            columns.append(
                list(map(text.__getitem__, map(slice, range(0, len(text), ID_LENGTH), ends)))
            )
        elif field == 2:
            indexes = array("I")
            indexes.frombytes(part)
            columns.append(list(map(account_ids.__getitem__, indexes)))
        elif field == 3:
            books: list[list[str]] = orjson.loads(parts[-1])
            columns.append(list(map(books.__getitem__, part)))
        else:
            columns.append([])
    pairs = columns[3]
    columns[3] = [pair[0] for pair in pairs]
    columns[4] = [pair[1] for pair in pairs]
    return columns


# -- the helper process -----------------------------------------------------------------


async def _serve(order: dict[str, Any], out: IO[bytes]) -> None:
    import asyncpg  # type: ignore[import-untyped]  # noqa: PLC0415 (only the helper uses it)

    connection = await asyncpg.connect(order["dsn"])
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            await connection.execute(f"SET TRANSACTION SNAPSHOT '{_quoted(order['snapshot'])}'")
            shard = int(order["shard"])
            owners = {
                str(user_id): index
                for index, (user_id,) in enumerate(
                    await connection.fetch(
                        "SELECT id FROM users WHERE engine_shard = $1 ORDER BY created_at, id",
                        shard,
                    )
                )
            }
            cursor = await connection.cursor(_POSITIONS_SQL, shard)
            while records := await cursor.fetch(int(order["chunkRows"])):
                _write(out, _pack(records, owners))
    finally:
        await connection.close()
    _write(out, b"")


def _pack(records: Sequence[Sequence[Any]], owners: dict[str, int]) -> bytes:
    columns = list(zip(*records, strict=True))
    books: dict[tuple[str, str], int] = {}
    parts: list[bytes] = []
    for field, values in enumerate(columns):
        if field in _NULLABLE:
            parts.append(array("q", [NULL if v is None else v for v in values]).tobytes())
        elif field in _INT_FIELDS:
            parts.append(array("q", values).tobytes())
        elif field == 1:
            parts.append("".join(values).encode("ascii"))
        elif field == 2:
            parts.append(array("I", map(owners.__getitem__, values)).tobytes())
        elif field == 3:
            pairs = zip(values, columns[4], strict=True)
            parts.append(bytes(books.setdefault(pair, len(books)) for pair in pairs))
        else:
            parts.append(b"")
    parts.append(orjson.dumps(list(books)))
    return _PARTS_HEADER.pack(*map(len, parts)) + b"".join(parts)


def _write(out: IO[bytes], frame: bytes) -> None:
    out.write(_LENGTH.pack(len(frame)))
    out.write(frame)


def _quoted(snapshot_id: str) -> str:
    """A snapshot id as PostgreSQL makes them (hex digits and dashes), or refused."""
    if not snapshot_id or any(c not in "0123456789ABCDEFabcdef-" for c in snapshot_id):
        raise ValueError(f"not a snapshot id: {snapshot_id!r}")
    return snapshot_id


def main() -> None:
    order = orjson.loads(sys.stdin.buffer.read())
    out = sys.stdout.buffer
    asyncio.run(_serve(order, out))
    out.flush()


if __name__ == "__main__":
    main()
