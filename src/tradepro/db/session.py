"""Database URLs and engines: one async engine per process, tuned per dialect.

Settings carry plain URLs (``postgresql://...`` as in the original deployment, or
``sqlite:///path``); ``async_url`` picks the async driver for them. SQLite is the embedded
default, so its engine is set up to behave like a real database: write-ahead logging (the
API reads while the engine writes), enforced foreign keys, a busy timeout instead of
immediate "database is locked" errors, and real transactions (see ``_sqlite_begin``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 10_000
POSTGRES_POOL_SIZE = 20
POSTGRES_MAX_OVERFLOW = 10
POSTGRES_POOL_RECYCLE_S = 1_800

_ASYNC_SCHEMES = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def async_url(url: str) -> str:
    """The URL with its async driver: ``postgresql://`` (or ``postgres://``) becomes
    ``postgresql+asyncpg://``, ``sqlite:///`` becomes ``sqlite+aiosqlite:///``."""
    scheme, separator, rest = url.partition("://")
    driver = _ASYNC_SCHEMES.get(scheme.lower()) if separator else None
    if driver is None:
        raise ValueError(
            f"unsupported database URL {_redacted(url)!r}: expected postgresql://... "
            "(or postgresql+asyncpg://...) or sqlite:///path (or sqlite+aiosqlite:///path)"
        )
    return f"{driver}://{rest}"


def open_database(url: str, **options: Any) -> AsyncEngine:
    """The database handle for ``url`` (SQLAlchemy calls it an ``AsyncEngine``: a pool of
    connections, opened lazily; "engine" in this project is the trading engine only).
    Extra ``options`` go to ``create_async_engine``."""
    target = async_url(url)
    if target.startswith("sqlite+"):
        database = create_async_engine(target, **options)
        event.listen(database.sync_engine, "connect", _sqlite_connect)
        event.listen(database.sync_engine, "begin", _sqlite_begin)
        return database
    defaults: dict[str, Any] = {
        "pool_size": POSTGRES_POOL_SIZE,
        "max_overflow": POSTGRES_MAX_OVERFLOW,
        "pool_pre_ping": True,  # survive a database restart without a failed request
        "pool_recycle": POSTGRES_POOL_RECYCLE_S,
    }
    return create_async_engine(target, **(defaults | options))


def _sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Hand BEGIN over to SQLAlchemy (``_sqlite_begin``): the sqlite3 module's legacy mode
    # starts no transaction for SELECT or DDL, so reads would not see one snapshot and a
    # failed migration would leave half its tables behind.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in (
            # First: the others take locks too (switching to WAL, or reading the journal
            # mode while another connection writes), and without a busy timeout a new
            # connection failed at once with "database is locked" beside a busy writer.
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",  # durable across process crashes in WAL mode
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def _redacted(url: str) -> str:
    """The URL without its password, fit for an error message."""
    scheme, separator, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not separator or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
