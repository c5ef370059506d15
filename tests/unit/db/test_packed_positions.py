"""A chunk packed by PostgreSQL (``db.packed_positions``) unpacks to every field exactly,
missing levels included, and a chunk the engine cannot take is refused, never guessed."""

from __future__ import annotations

import struct

import pytest

from tradepro.db import packed_positions
from tradepro.db.packed_positions import NULL_LEVEL, PackedPositionsError, unpack_chunk

OWNERS = ["0a9e37c4-4c5e-4c8e-9f57-1c3f4e0c2a11", "7f1d5b62-2a8b-4d7e-8c0e-5b9a6d3e4f22"]
BOOKS = ["BTC_USDC buy", "BTC_USDC sell", "ETH_USDC buy", "ETH_USDC sell"]
ROWS = [
    (1, "019b76da-a80a-77a7-9552-7205beba629b", OWNERS[1], "BTC_USDC", "buy",
     637, 5, 649_541, 8_276, 700_000, None, 520_000, None, 1_767_225_600_010_056,
     None, 0),
    (2, "019b76da-a80a-79dc-90a1-fb21e1bd3f08", OWNERS[0], "ETH_USDC", "sell",
     2_427, 100, 319_828, 3_882, None, 330_000, 322_000, 0, 1_767_225_600_010_106,
     1_500, 37),
    (9, "019b76da-a80b-7000-8000-000000000000", OWNERS[1], "BTC_USDC", "sell",
     (1 << 62), 1, 1, 0, 1, 1, 2, 10_000, 0, None, 1 << 40),
]  # fmt: skip


def packed(rows: list[tuple[object, ...]], *, owner: int | None = None) -> list[object]:
    """What ``CHUNK_SQL`` answers for ``rows``: one value per field but the side."""

    def int8s(values: list[object]) -> bytes:
        return b"".join(struct.pack(">q", NULL_LEVEL if v is None else v) for v in values)

    columns = list(zip(*rows, strict=True))
    record: list[object] = [int8s(list(columns[0])), "".join(columns[1])]  # type: ignore[arg-type]
    owners = [OWNERS.index(user_id) if owner is None else owner for user_id in columns[2]]
    record.append(b"".join(struct.pack(">i", n) for n in owners))
    books = [BOOKS.index(f"{a} {s}") + 1 for a, s in zip(columns[3], columns[4], strict=True)]
    record.append(b"".join(struct.pack(">h", n) for n in books))
    record += [int8s(list(column)) for column in columns[5:]]
    return record


def test_a_chunk_carries_every_field_and_every_missing_level() -> None:
    columns = unpack_chunk(packed(ROWS), BOOKS, OWNERS, last_seq=9)
    assert list(zip(*columns, strict=True)) == ROWS
    owners = {user_id: user_id for user_id in OWNERS}
    assert all(owner is owners[owner] for owner in columns[2])  # the accounts' own strings


def test_an_owner_that_is_not_an_account_is_refused() -> None:
    with pytest.raises(PackedPositionsError, match="owner"):
        unpack_chunk(packed(ROWS, owner=-1), BOOKS, OWNERS, last_seq=9)


def test_an_unknown_asset_or_side_is_refused() -> None:
    record = packed(ROWS)
    record[3] = struct.pack(">hhh", 1, 0, 2)  # book 0: not one of the engine's
    with pytest.raises(PackedPositionsError, match="asset"):
        unpack_chunk(record, BOOKS, OWNERS, last_seq=9)


def test_a_chunk_out_of_seq_order_is_refused() -> None:
    with pytest.raises(PackedPositionsError, match="seq order"):
        unpack_chunk(packed(ROWS[::-1]), BOOKS, OWNERS, last_seq=1)
    with pytest.raises(PackedPositionsError, match="seq order"):
        unpack_chunk(packed(ROWS), BOOKS, OWNERS, last_seq=8)


def test_every_aggregated_value_is_never_null() -> None:
    """``string_agg`` skips NULLs, which would shift every later value: each nullable
    column is coalesced, the owner and the book too."""
    sql = packed_positions.CHUNK_SQL
    for name in ("take_profit", "stop_loss", "slippage_bps", "trailing_stop"):
        assert f"coalesce(p.{name}::int8, {NULL_LEVEL})" in sql
    assert "coalesce(owner.n, -1)" in sql
    assert "p.asset || ' ' || p.side), 0)" in sql


class FakeConnection:
    """Answers ``LAST_SEQ_SQL`` with ``last_seq``, ``CHUNK_END_SQL`` with ``cuts`` in turn
    (then no row) and ``CHUNK_SQL`` with ``records`` in turn (then no rows)."""

    def __init__(
        self, last_seq: int, records: list[list[object]], cuts: list[int] | None = None
    ) -> None:
        self.last_seq, self.records, self.cuts = last_seq, records, cuts or []
        self.asked: list[tuple[object, ...]] = []

    async def fetchval(self, sql: str, *args: object) -> int | None:
        self.asked.append(args)
        if sql == packed_positions.LAST_SEQ_SQL:
            return self.last_seq
        assert sql == packed_positions.CHUNK_END_SQL
        return self.cuts.pop(0) if self.cuts else None

    async def fetchrow(self, sql: str, *args: object) -> list[object]:
        assert sql == packed_positions.CHUNK_SQL
        self.asked.append(args)
        return self.records.pop(0) if self.records else [None] * len(packed(ROWS))


async def read_all(connection: FakeConnection) -> list[list[list[object]]]:
    chunks = packed_positions.read_chunks([connection], 0, BOOKS, OWNERS)
    return [chunk async for chunk in chunks]


async def test_chunks_are_spans_of_seqs_asked_for_without_a_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A span of n seqs holds at most n positions (seqs are unique); one with none
    is skipped; the last runs to the end."""
    monkeypatch.setattr(packed_positions, "CHUNK_ROWS", 3)
    connection = FakeConnection(9, [packed(ROWS[:2]), [None] * 15, packed(ROWS[2:])])
    chunks = await read_all(connection)
    assert [list(zip(*chunk, strict=True)) for chunk in chunks] == [ROWS[:2], ROWS[2:]]
    end = packed_positions.MAX_SEQ
    assert connection.asked == [
        (0,),
        (0, 0, 3, BOOKS, 3),
        (0, 3, 6, BOOKS, 3),
        (0, 6, end, BOOKS, 3),
    ]


async def test_a_span_that_holds_a_seq_beyond_it_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(packed_positions, "CHUNK_ROWS", 3)
    with pytest.raises(PackedPositionsError, match="seq order"):
        await read_all(FakeConnection(9, [packed(ROWS)]))


async def test_seqs_spread_far_apart_are_cut_into_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packed_positions, "SPANS_AT_MOST", 0)
    connection = FakeConnection(9, [packed(ROWS)], cuts=[9])
    [chunk] = await read_all(connection)
    assert list(zip(*chunk, strict=True)) == ROWS
    rows = packed_positions.CHUNK_ROWS
    assert connection.asked == [
        (0,),
        (0, 0, rows - 1),
        (0, 0, 9, BOOKS, rows),
        (0, 9, rows - 1),
        (0, 9, packed_positions.MAX_SEQ, BOOKS, rows),
    ]


async def test_a_chunk_that_does_not_end_where_it_was_cut_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows that the cut did not see (another snapshot) are never taken as they come."""
    monkeypatch.setattr(packed_positions, "SPANS_AT_MOST", 0)
    with pytest.raises(PackedPositionsError, match="seq order"):
        await read_all(FakeConnection(10, [packed(ROWS)], cuts=[10]))
    with pytest.raises(PackedPositionsError, match="empty"):
        await read_all(FakeConnection(9, [], cuts=[9]))
