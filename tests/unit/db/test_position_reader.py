"""The helper's frames carry every field exactly, missing levels included, and a helper
that fails makes the restore fail (and leaves no process behind), never a partial engine."""

from __future__ import annotations

import asyncio
import struct

import psutil
import pytest

from tradepro.db import position_reader
from tradepro.domain.positions import Position

OWNERS = ["0a9e37c4-4c5e-4c8e-9f57-1c3f4e0c2a11", "7f1d5b62-2a8b-4d7e-8c0e-5b9a6d3e4f22"]
ROWS = [
    (1, "019b76da-a80a-77a7-9552-7205beba629b", OWNERS[1], "BTC_USDC", "buy",
     637, 5, 649_541, 8_276, 700_000, None, 520_000, None, 1_767_225_600_010_056, 300, 17),
    (2, "019b76da-a80a-79dc-90a1-fb21e1bd3f08", OWNERS[0], "ETH_USDC", "sell",
     2_427, 100, 319_828, 3_882, None, 330_000, 322_000, 25, 1_767_225_600_010_106, None, 0),
    (9, "019b76da-a80b-7000-8000-000000000000", OWNERS[1], "BTC_USDC", "sell",
     (1 << 62), 1, 1, 0, 0, 0, 2, 0, 0, 0, 0),
]  # fmt: skip


def test_a_frame_carries_every_field_and_every_missing_level() -> None:
    frame = position_reader._pack(ROWS, {user_id: n for n, user_id in enumerate(OWNERS)})
    columns = position_reader._unpack(frame, OWNERS)
    assert len(columns) == len(Position._fields)
    assert list(zip(*columns, strict=True)) == ROWS


def test_an_owner_without_an_account_is_an_error_not_a_guess() -> None:
    with pytest.raises(KeyError):
        position_reader._pack(ROWS, {OWNERS[0]: 0})


async def test_a_helper_that_cannot_read_fails_the_restore_and_is_gone() -> None:
    before = {child.pid for child in psutil.Process().children()}
    chunks = position_reader.read_positions(
        "postgresql://nobody@127.0.0.1:1/none", "00000003-00000002-1", 0, OWNERS, 10
    )
    with pytest.raises(RuntimeError, match="reading the open positions failed"):
        async for _ in chunks:
            pass
    await asyncio.sleep(0)
    assert {child.pid for child in psutil.Process().children()} <= before


def test_frames_are_length_prefixed() -> None:
    frame = position_reader._pack(ROWS[:1], {OWNERS[1]: 0})
    header = struct.unpack_from(f"<{len(Position._fields) + 1}Q", frame)
    assert sum(header) + struct.calcsize(f"<{len(header)}Q") == len(frame)
