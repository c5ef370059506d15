"""Durable ``Idempotency-Key``s of create-order, shared by every API process.

A key's row is written before the engine is asked, with the order id chosen for it, and
its first answer (status and JSON body) is written before the API answers. A row with no
answer yet belongs to a request still running, or to an API process that died mid-request.
Rows older than the retention count as gone and are deleted off the request path
(``purge``), in bounded batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tradepro.db.models import Base

KEYS: Table = Base.metadata.tables["idempotency_keys"]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One key as stored: what it was first used for and, once known, the answer."""

    fingerprint: str
    order_id: str
    status: int | None
    response: dict[str, Any] | None
    created_at: datetime


class IdempotencyStore:
    def __init__(self, database: AsyncEngine) -> None:
        self.database = database
        self._insert = postgresql.insert if database.dialect.name == "postgresql" else sqlite.insert

    async def claim(
        self, user_id: str, key: str, record: KeyRecord, expired_before: datetime
    ) -> tuple[KeyRecord, bool]:
        """Store ``record`` for the key unless a live one is there; return the stored record
        and whether it is ``record`` (new). A row created before ``expired_before`` is
        replaced, as if it had been purged already."""
        values = {
            "user_id": user_id,
            "key": key,
            "fingerprint": record.fingerprint,
            "order_id": record.order_id,
            "created_at": record.created_at,
        }
        async with self.database.begin() as connection:
            insert = self._insert(KEYS).values(values).on_conflict_do_nothing()
            if (await connection.execute(insert)).rowcount == 1:
                return record, True
            stored = await _read(connection, user_id, key)
            if stored is not None and stored.created_at >= expired_before:
                return stored, False
            # Expired (or purged this very moment): replace it, if nobody else just did.
            await connection.execute(
                delete(KEYS).where(_row(user_id, key), KEYS.c.created_at < expired_before)
            )
            if (await connection.execute(insert)).rowcount == 1:
                return record, True
            stored = await _read(connection, user_id, key)
        assert stored is not None  # inserted by a concurrent request, never deleted since
        return stored, False

    async def record_answer(
        self, user_id: str, key: str, status: int, response: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Store the key's first answer; return the stored one (a concurrent twin's, if it
        stored its answer first)."""
        async with self.database.begin() as connection:
            updated = await connection.execute(
                update(KEYS)
                .where(_row(user_id, key), KEYS.c.status.is_(None))
                .values(status=status, response=response)
            )
            if updated.rowcount == 0:
                stored = await _read(connection, user_id, key)
                if stored is not None and stored.status is not None and stored.response:
                    return stored.status, stored.response
        return status, response

    async def purge(self, expired_before: datetime, batch: int) -> int:
        """Delete up to ``batch`` keys created before ``expired_before``; return how many.

        One statement (a write from its start: on SQLite a read first could not become a
        write once the engine had committed in between)."""
        oldest = (
            select(KEYS.c.user_id, KEYS.c.key)
            .where(KEYS.c.created_at < expired_before)
            .order_by(KEYS.c.created_at)
            .limit(batch)
        )
        statement = delete(KEYS).where(tuple_(KEYS.c.user_id, KEYS.c.key).in_(oldest))
        async with self.database.begin() as connection:
            deleted: int = (await connection.execute(statement)).rowcount
        return deleted


def _row(user_id: str, key: str) -> Any:
    return and_(KEYS.c.user_id == user_id, KEYS.c.key == key)


async def _read(connection: AsyncConnection, user_id: str, key: str) -> KeyRecord | None:
    row = (
        await connection.execute(
            select(
                KEYS.c.fingerprint,
                KEYS.c.order_id,
                KEYS.c.status,
                KEYS.c.response,
                KEYS.c.created_at,
            ).where(_row(user_id, key))
        )
    ).one_or_none()
    if row is None:
        return None
    return KeyRecord(row.fingerprint, row.order_id, row.status, row.response, row.created_at)
