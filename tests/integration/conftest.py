"""Database fixtures: each test that asks for one runs twice, on a fresh PostgreSQL database
and on a SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.migrate import upgrade
from tradepro.db.session import open_database


@pytest.fixture(params=["postgres_url", "sqlite_url"], ids=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


@pytest.fixture
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to the latest schema."""
    await upgrade(database_url)
    engine = open_database(database_url)
    yield engine
    await engine.dispose()
