"""Users by e-mail and their single-use sign-in links (``users``, ``sign_in_links``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.models import SignInLink, User


async def user_id_for_email(database: AsyncEngine, email: str) -> str:
    """The user's id, creating the user if new. The insert comes first, so on SQLite the
    transaction takes the write lock at once (waiting ``busy_timeout``) instead of failing
    to upgrade a read snapshot that the engine's commits made stale."""
    dialect = postgresql if database.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(User).values(id=str(uuid.uuid4()), email=email)
    async with database.begin() as connection:
        await connection.execute(statement.on_conflict_do_nothing(index_elements=["email"]))
        found = await connection.execute(select(User.id).where(User.email == email))
        return str(found.scalar_one())


async def record_link(
    database: AsyncEngine, token_id: str, user_id: str, expires_at: datetime
) -> None:
    """Remember an issued link (its token's id) until it is used or expires."""
    async with database.begin() as connection:
        await connection.execute(
            insert(SignInLink).values(id=token_id, user_id=user_id, expires_at=expires_at)
        )


async def link_usable(database: AsyncEngine, token_id: str, user_id: str) -> bool:
    """Whether the link is still unused and unexpired (nothing is changed)."""
    async with database.connect() as connection:
        found = await connection.execute(
            select(SignInLink.id)
            .where(SignInLink.id == token_id, SignInLink.used_at.is_(None))
            .where(SignInLink.expires_at > datetime.now(UTC))
            .where(SignInLink.user_id == user_id)
        )
        return found.first() is not None


async def consume_link(database: AsyncEngine, token_id: str, user_id: str) -> bool:
    """Mark the link used and the user signed in now; False if it was used or expired."""
    now = datetime.now(UTC)
    async with database.begin() as connection:
        consumed = await connection.execute(
            update(SignInLink)
            .where(SignInLink.id == token_id, SignInLink.used_at.is_(None))
            .where(SignInLink.expires_at > now, SignInLink.user_id == user_id)
            .values(used_at=now)
        )
        if consumed.rowcount == 1:
            await connection.execute(
                update(User).where(User.id == user_id).values(last_logged_in=now)
            )
    return bool(consumed.rowcount == 1)
