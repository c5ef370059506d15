"""The ``revoked_sessions`` table: record a sign-out, load the list at start."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.models import RevokedSession


async def record_revocation(
    database: AsyncEngine, token_id: str, user_id: str, expires_at_s: int
) -> None:
    """Remember an ended session (idempotent), and forget the rows that have expired."""
    dialect = postgresql if database.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(RevokedSession).values(
        token_id=token_id,
        user_id=user_id,
        expires_at=datetime.fromtimestamp(expires_at_s, UTC),
    )
    now = datetime.now(UTC)
    async with database.begin() as connection:
        await connection.execute(statement.on_conflict_do_nothing(index_elements=["token_id"]))
        await connection.execute(delete(RevokedSession).where(RevokedSession.expires_at <= now))


async def load_revocations(database: AsyncEngine) -> dict[str, int]:
    """Every ended session not yet expired: token id -> expiry (epoch seconds)."""
    now = datetime.now(UTC)
    query = select(RevokedSession.token_id, RevokedSession.expires_at).where(
        RevokedSession.expires_at > now
    )
    async with database.connect() as connection:
        rows = await connection.execute(query)
        return {token_id: int(expires_at.timestamp()) for token_id, expires_at in rows}
