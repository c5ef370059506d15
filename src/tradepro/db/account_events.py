"""The durable log of account events (``account_events``): written by the engine service
after each batch, read by ``GET /account/events`` and by the ws server for ``since``.

Retention: an event is kept ``keep_s`` (7 days by default, ``ACCOUNT_EVENTS_KEEP_DAYS``)
after its engine time, and each user's latest event is always kept, so the store always
knows where a user's sequence stands. A client that asks for events after a ``seq`` whose
successor is gone gets ``EventsExpiredError``: it must read its state again from the REST routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Table, and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tradepro.db.bulk import BulkWriter, Pacer
from tradepro.db.models import Base

ACCOUNT_EVENTS: Table = Base.metadata.tables["account_events"]
_COLUMNS = ("user_id", "seq", "kind", "at", "payload")
KEEP_S = 7 * 24 * 3600
"""How long events are kept after their engine time (a user's latest is always kept)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EventRow(NamedTuple):
    """One account event as the engine service writes it."""

    user_id: str
    seq: int
    kind: str
    at_us: int
    """The engine time of the entry that caused it (microseconds)."""
    payload: str
    """The ws ``orders`` message, as JSON text."""


class EventsExpiredError(Exception):
    """The events after the asked ``seq`` are no longer kept."""

    def __init__(self, since: int, oldest: int) -> None:
        super().__init__(
            f"events after seq {since} are no longer kept (the oldest kept is seq {oldest}): "
            "read the account again from the REST routes, then follow from its latest seq"
        )
        self.since = since
        self.oldest = oldest


async def record_events(
    bulk: BulkWriter,
    connection: AsyncConnection,
    rows: Sequence[EventRow],
    pacer: Pacer | None = None,
) -> None:
    """Insert events; those already there (a replay after a restart) are left alone."""
    await bulk.insert(
        connection,
        ACCOUNT_EVENTS,
        _COLUMNS,
        (
            (
                row.user_id,
                row.seq,
                row.kind,
                _EPOCH + timedelta(microseconds=row.at_us),
                row.payload,
            )
            for row in rows
        ),
        "ON CONFLICT (user_id, seq) DO NOTHING",
        pacer=pacer,
    )


async def prune_events(connection: AsyncConnection, before_us: int) -> int:
    """Delete events older than ``before_us`` except each user's latest; return how many."""
    latest = ACCOUNT_EVENTS.alias("latest")
    newest_of_user = (
        select(func.max(latest.c.seq))
        .where(latest.c.user_id == ACCOUNT_EVENTS.c.user_id)
        .scalar_subquery()
    )
    result = await connection.execute(
        delete(ACCOUNT_EVENTS).where(
            and_(
                ACCOUNT_EVENTS.c.at < _utc(before_us),
                ACCOUNT_EVENTS.c.seq < newest_of_user,
            )
        )
    )
    return int(result.rowcount or 0)


async def read_events(
    database: AsyncEngine, user_id: str, since: int, limit: int, *, until: int | None = None
) -> list[tuple[int, str]]:
    """``(seq, payload)`` of the user's events after ``since`` (and up to ``until``), in
    seq order, at most ``limit``. Raises ``EventsExpiredError`` when the first of them is gone."""
    conditions = [ACCOUNT_EVENTS.c.user_id == user_id, ACCOUNT_EVENTS.c.seq > since]
    if until is not None:
        conditions.append(ACCOUNT_EVENTS.c.seq <= until)
    query = (
        select(ACCOUNT_EVENTS.c.seq, ACCOUNT_EVENTS.c.payload)
        .where(*conditions)
        .order_by(ACCOUNT_EVENTS.c.seq)
        .limit(limit)
    )
    async with database.connect() as connection:
        rows = _contiguous(
            since, [(int(seq), str(payload)) for seq, payload in await connection.execute(query)]
        )
        if rows:
            return rows
        oldest = (
            await connection.execute(
                select(func.min(ACCOUNT_EVENTS.c.seq)).where(ACCOUNT_EVENTS.c.user_id == user_id)
            )
        ).scalar_one_or_none()
    if oldest is not None and oldest > since + 1:
        raise EventsExpiredError(since, int(oldest))
    return rows


def _contiguous(since: int, rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The rows that follow ``since`` without a gap: two writes of the log may commit out
    of order for a moment, and a reader must never skip an event that is not there yet."""
    expected = since + 1
    for index, (seq, _payload) in enumerate(rows):
        if seq != expected:
            return rows[:index]
        expected += 1
    return rows


def _utc(timestamp_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=timestamp_us)
