"""Bring a database to the latest schema with the migrations shipped in this package.

No ``alembic.ini`` is needed: ``alembic_config`` builds the configuration, so the installed
package (wheel or editable) finds its own scripts. To write a new migration, run Alembic's
API with it, e.g. ``command.revision(alembic_config(url), "add x", autogenerate=True)``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from tradepro.db.session import open_database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
HEAD = "head"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the packaged migrations (and ``url``, if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser treats % as interpolation: a URL-encoded password must be escaped.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(url: str, revision: str = HEAD) -> None:
    """Apply every migration up to ``revision`` in one transaction; a no-op when current."""
    database = open_database(url)
    try:
        async with database.begin() as connection:
            await connection.run_sync(_upgrade, alembic_config(), revision)
    finally:
        await database.dispose()


def upgrade_sync(url: str, revision: str = HEAD) -> None:
    """``upgrade`` for callers without an event loop (the command line)."""
    asyncio.run(upgrade(url, revision))


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
