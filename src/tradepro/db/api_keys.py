"""The ``api_keys`` table: make, list and revoke a user's keys; find a key by its digest."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.models import ApiKey, User

log = logging.getLogger("tradepro.db")


class KeyRow(NamedTuple):
    """A key as its owner sees it (never the key, never its digest)."""

    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None


class LiveKey(NamedTuple):
    """A key that is not revoked, as a request checks it."""

    id: str
    user_id: str
    email: str
    scopes: frozenset[str]


def _scopes(text: str) -> tuple[str, ...]:
    return tuple(text.split(","))


class TooManyKeysError(Exception):
    """The user has ``max_live`` keys already: none was made."""


async def create_key(
    database: AsyncEngine,
    user_id: str,
    name: str,
    *,
    prefix: str,
    key_digest: str,
    scopes: tuple[str, ...],
    max_live: int,
) -> KeyRow:
    """Make a key, unless the user would then hold more than ``max_live`` live keys
    (``TooManyKeysError``). The count is taken after the insert, in its transaction, and
    one user's key creations take turns, so requests sent together cannot each count one
    less than the limit: on PostgreSQL by a transaction lock on the user, on SQLite because
    the insert, coming first, takes the database's write lock."""
    row = KeyRow(str(uuid.uuid4()), name, prefix, scopes, datetime.now(UTC), None)
    async with database.begin() as connection:
        await connection.execute(
            insert(ApiKey).values(
                id=row.id,
                user_id=user_id,
                name=name,
                prefix=prefix,
                digest=key_digest,
                scopes=",".join(scopes),
                created_at=row.created_at,
            )
        )
        if connection.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
            await connection.execute(lock, {"key": f"api-keys:{user_id}"})
        live = await connection.scalar(
            select(func.count()).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        )
        if live is None or live > max_live:
            raise TooManyKeysError(user_id)  # the transaction is rolled back
    return row


async def live_keys(database: AsyncEngine, user_id: str) -> list[KeyRow]:
    """The user's keys that are not revoked, newest first."""
    query = (
        select(
            ApiKey.id,
            ApiKey.name,
            ApiKey.prefix,
            ApiKey.scopes,
            ApiKey.created_at,
            ApiKey.last_used_at,
        )
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    async with database.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [
        KeyRow(r.id, r.name, r.prefix, _scopes(r.scopes), r.created_at, r.last_used_at)
        for r in rows
    ]


async def revoke_key(database: AsyncEngine, user_id: str, key_id: str) -> bool:
    """Mark the user's key revoked (idempotent); False if the user has no such key."""
    async with database.begin() as connection:
        await connection.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        found = await connection.execute(
            select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.user_id == user_id)
        )
        return found.first() is not None


async def key_by_digest(database: AsyncEngine, key_digest: str) -> LiveKey | None:
    """The live key with this digest, with its owner's e-mail; None if none (or revoked)."""
    query = (
        select(ApiKey.id, ApiKey.user_id, ApiKey.scopes, User.email)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.digest == key_digest, ApiKey.revoked_at.is_(None))
    )
    async with database.connect() as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        return None
    return LiveKey(row.id, row.user_id, row.email or "", frozenset(_scopes(row.scopes)))


async def touch_key(database: AsyncEngine, key_id: str) -> None:
    """Record that the key was used now."""
    async with database.begin() as connection:
        await connection.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=datetime.now(UTC))
        )


async def record_use(database: AsyncEngine, key_id: str) -> None:
    """``touch_key``, where a failure only makes "last used" late: logged, not raised
    (the request the key came with goes on)."""
    try:
        await touch_key(database, key_id)
    except (SQLAlchemyError, OSError) as error:
        log.warning("could not record the use of API key %s: %s", key_id, error)
