"""The packaged migrations build the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tradepro.db.migrate import MIGRATIONS_DIR, alembic_config, upgrade
from tradepro.db.models import Base
from tradepro.db.session import open_database

pytestmark = pytest.mark.integration

TABLES = {
    "users", "existing_trades", "open_positions", "engine_state", "sign_in_links", "candles",
    "engine_order_ids", "engine_leases", "idempotency_keys", "revoked_sessions", "alembic_version",
    "pending_orders", "order_history", "api_keys", "ledger_entries", "account_events",
}  # fmt: skip


def test_the_installed_package_ships_its_migrations() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    script = ScriptDirectory.from_config(alembic_config())
    revisions = [revision.revision for revision in script.walk_revisions()]
    assert revisions == [
        "0014",
        "0013",
        "0012",
        "0011",
        "0010",
        "0009",
        "0008",
        "0007",
        "0006",
        "0005",
        "0004",
        "0003",
        "0002",
        "0001",
    ]


def _schema(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    version = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()

    def indexes(table: str) -> set[str | None]:
        # PostgreSQL also lists the index behind each unique constraint: not ours to name.
        return {
            index["name"]
            for index in inspector.get_indexes(table)
            if not index.get("duplicates_constraint")
        }

    return {
        "tables": set(inspector.get_table_names()),
        "version": version,
        "trade_indexes": indexes("existing_trades"),
        "position_indexes": indexes("open_positions"),
    }


def _model_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_upgrade_creates_the_schema_and_is_idempotent(database_url: str) -> None:
    await upgrade(database_url)
    await upgrade(database_url)  # already at head: nothing to do, no error
    engine = open_database(database_url)
    try:
        async with engine.connect() as connection:
            schema = await connection.run_sync(_schema)
            differences = await connection.run_sync(_model_differences)
    finally:
        await engine.dispose()
    assert schema == {
        "tables": TABLES,
        "version": ["0014"],
        "trade_indexes": {"ix_existing_trades_user_id_closed_at_id"},
        "position_indexes": set(),
    }
    assert differences == []
