"""URLs pick the async drivers; engines keep ids, times and SQLite settings as promised."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradepro.db.models import User
from tradepro.db.session import async_url, open_database


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/trade", "postgresql+asyncpg://u:p@db:5432/trade"),
        ("postgres://u@db/trade", "postgresql+asyncpg://u@db/trade"),
        ("postgresql+asyncpg://db/trade", "postgresql+asyncpg://db/trade"),
        ("sqlite:///relative.db", "sqlite+aiosqlite:///relative.db"),
        ("sqlite:////abs/path/tradepro.db", "sqlite+aiosqlite:////abs/path/tradepro.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("SQLite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_async_url_picks_the_async_driver(url: str, expected: str) -> None:
    assert async_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u@db/trade",
        "postgresql+psycopg2://u@db/trade",
        "sqlite+pysqlite:///x.db",
        "tradepro.db",
        "",
    ],
)
def test_async_url_refuses_other_databases(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        async_url(url)


def test_async_url_error_hides_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported") as caught:
        async_url("mysql://trader:s3cret@db/trade")
    assert "s3cret" not in str(caught.value)
    assert "trader:***@db/trade" in str(caught.value)


async def test_sqlite_engine_settings(sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        await engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 10_000,
        "synchronous": 1,
    }


async def test_a_failed_sqlite_transaction_rolls_back_ddl_too(sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    try:
        with pytest.raises(RuntimeError):
            async with engine.begin() as connection:
                await connection.execute(text("CREATE TABLE t (x INTEGER)"))
                raise RuntimeError("abort")
        async with engine.connect() as connection:
            tables = await connection.execute(text("SELECT name FROM sqlite_master"))
            assert "t" not in tables.scalars().all()
    finally:
        await engine.dispose()


@pytest.mark.integration
async def test_ids_and_times_round_trip_unchanged(db_engine: AsyncEngine) -> None:
    user_id = str(uuid.uuid4())
    signed_in = datetime(2025, 1, 2, 3, 4, 5, 678_901, tzinfo=timezone(timedelta(hours=2)))
    async with AsyncSession(db_engine) as session:
        session.add(User(id=user_id, email="a@example.com", balance=1, last_logged_in=signed_in))
        await session.commit()
    async with AsyncSession(db_engine) as session:
        user = (await session.scalars(select(User).where(User.id == user_id))).one()
        assert user.id == user_id
        assert user.last_logged_in == signed_in
        assert user.last_logged_in is not None
        assert user.last_logged_in.tzinfo == UTC
        assert user.created_at.tzinfo == UTC
        assert abs(datetime.now(UTC) - user.created_at) < timedelta(minutes=5)
        assert user.engine_shard is None
