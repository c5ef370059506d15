"""``SqliteBus``: the shared contract plus the embedded journal's own promises."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.contracts.bus import GUARD_S, AppendRawEntry, BusContract, publish_many
from tradepro.bus.base import START_ID, Entry
from tradepro.bus.sqlite_bus import SqliteBus

CHILD_PUBLISHER = """
import asyncio, sys
from pathlib import Path
from typing import Any
from tradepro.bus.sqlite_bus import SqliteBus

async def main() -> None:
    bus = SqliteBus(Path(sys.argv[1]))
    for n in range(int(sys.argv[2])):
        await bus.publish("price-update", {"n": n}, f"child-{n}")
    await bus.close()

asyncio.run(main())
"""


@pytest.fixture
async def append_raw_entry(bus: SqliteBus) -> AppendRawEntry:
    async def append(kind: str, request_id: str, payload: bytes) -> None:
        with sqlite3.connect(bus.path) as connection:
            connection.execute(
                "INSERT INTO engine_stream (request_id, kind, payload, ts_us) "
                "VALUES (?, ?, ?, (SELECT coalesce(max(ts_us), 0) + 1 FROM engine_stream))",
                (request_id, kind, payload),
            )
        connection.close()

    await bus.last_callback_id()  # creates the schema
    return append


class TestSqliteBusContract(BusContract):
    pass


async def read_all(bus: SqliteBus, expected: int) -> list[Entry]:
    """Blocking reads from the start until ``expected`` entries are in (or the guard)."""
    entries: list[Entry] = []
    async with asyncio.timeout(GUARD_S):
        while len(entries) < expected:
            after = entries[-1].entry_id if entries else START_ID
            entries += await bus.read_entries(after, 1000, 100)
    return entries


async def test_a_publish_from_another_process_reaches_a_blocked_reader(bus: SqliteBus) -> None:
    await bus.last_callback_id()  # the file exists before the child opens it
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_PUBLISHER, str(bus.path), "200"
    )
    own_ids = await publish_many(bus, 200, kind="create-order")  # both write at once
    entries = await read_all(bus, 400)
    assert await child.wait() == 0

    from_child = [entry for entry in entries if entry.request_id.startswith("child-")]
    assert [entry.payload for entry in from_child] == [{"n": n} for n in range(200)]
    assert {entry.entry_id for entry in entries} >= set(own_ids)
    assert_strictly_increasing(entries)


def assert_strictly_increasing(entries: list[Entry]) -> None:
    ids = [int(entry.entry_id) for entry in entries]
    stamps = [entry.ts_us for entry in entries]
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert all(a < b for a, b in itertools.pairwise(stamps))


def steps(values: list[int]) -> Iterator[int]:
    yield from values
    while True:
        yield values[-1]


async def test_ts_never_goes_backwards_even_when_the_clock_does(tmp_path: Path) -> None:
    clock = steps([5_000_000, 5_000_000, 4_000_000, 9_000_000, 1_000])
    bus = SqliteBus(tmp_path / "bus.db", clock_us=lambda: next(clock))
    try:
        await publish_many(bus, 6)
        entries = await bus.read_entries(START_ID, 10, 0)
    finally:
        await bus.close()

    assert [entry.ts_us for entry in entries] == [
        5_000_000,
        5_000_001,
        5_000_002,
        9_000_000,
        9_000_001,
        9_000_002,
    ]
    assert [entry.entry_id for entry in entries] == ["1", "2", "3", "4", "5", "6"]


async def test_the_journal_survives_reopening(tmp_path: Path) -> None:
    first = SqliteBus(tmp_path / "bus.db")
    ids = await publish_many(first, 3)
    await first.publish_callbacks([b'{"id":"request-0","status":"created"}'])
    before = await first.read_entries(START_ID, 10, 0)
    last_callback = await first.last_callback_id()
    await first.close()

    second = SqliteBus(tmp_path / "bus.db", clock_us=lambda: 1)  # a clock far in the past
    try:
        after = await second.read_entries(START_ID, 10, 0)
        newer = (await second.publish("price-update", {"n": 3}, "request-3")).entry_id
        (newest,) = await second.read_entries(ids[-1], 10, 0)
        assert await second.last_callback_id() == last_callback
    finally:
        await second.close()

    assert after == before
    assert int(newer) > int(ids[-1])
    assert newest.ts_us > before[-1].ts_us


async def test_trimming_everything_never_reuses_an_id(bus: SqliteBus) -> None:
    ids = await publish_many(bus, 3)
    await bus.trim_entries(str(int(ids[-1]) + 1))
    assert await bus.read_entries(START_ID, 10, 0) == []

    newer = (await bus.publish("price-update", {"n": 3}, "request-3")).entry_id

    assert int(newer) > int(ids[-1])


async def test_the_callback_queue_is_capped(tmp_path: Path) -> None:
    bus = SqliteBus(tmp_path / "bus.db", callback_maxlen=50)
    try:
        for n in range(30):
            await bus.publish_callbacks([f'{{"n":{n}}}'.encode()] * 10)
        callbacks = await bus.read_callbacks(START_ID, 1000, 0)
        last = await bus.last_callback_id()
    finally:
        await bus.close()

    assert 50 <= len(callbacks) < 300  # approximate, like Redis' MAXLEN ~
    assert callbacks[-1].entry_id == last == "300"


async def test_the_file_is_in_wal_mode(bus: SqliteBus) -> None:
    await bus.publish("price-update", {}, "request-0")

    with sqlite3.connect(bus.path) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    connection.close()

    assert mode == "wal"


async def test_an_idle_blocked_reader_polls_less_and_less(
    bus: SqliteBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From every 2 ms up to every 50 ms: an idle service costs a few queries a second."""
    reader = bus._reader
    queries = 0
    run = reader.run

    async def counted(*args: Any) -> Any:
        nonlocal queries
        queries += 1
        return await run(*args)

    monkeypatch.setattr(reader, "run", counted)
    assert await bus.read_entries("0", 10, 500) == []
    # Fixed 2 ms polls would take ~250 queries; doubling gaps capped at 50 ms take ~14.
    assert queries <= 30
