"""Alembic environment: async database handles, one script for PostgreSQL and SQLite.

``tradepro.db.migrate.upgrade`` passes an open connection in ``config.attributes``
(Alembic's "connection sharing" recipe, run through ``AsyncConnection.run_sync``); the
plain ``alembic`` command line, with ``sqlalchemy.url`` set, gets a database handle of its own.
SQLite alters tables by copying them, so migrations are rendered and run in batch mode.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from tradepro.db.models import Base
from tradepro.db.session import async_url, open_database

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=async_url(config.get_main_option("sqlalchemy.url") or ""),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_with_own_database(url: str) -> None:
    database = open_database(url)
    try:
        async with database.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await database.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        run_migrations(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url (or call tradepro.db.migrate.upgrade(url))")
    asyncio.run(run_migrations_with_own_database(url))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
