"""What a query sent to the database and how the database ran it, for tests that check a
query's cost by its plan (an index range, the rows it read) instead of by the clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

Sent = tuple[str, Any]
"""A statement as the driver got it, and its parameters."""


@contextmanager
def statements(database: AsyncEngine) -> Iterator[list[Sent]]:
    """Every statement sent to the driver meanwhile, with its parameters (``BEGIN``s too)."""
    sent: list[Sent] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(database.sync_engine, "before_cursor_execute", remember)
    try:
        yield sent
    finally:
        event.remove(database.sync_engine, "before_cursor_execute", remember)


async def postgres_plan(database: AsyncEngine, sent: Sent) -> dict[str, Any]:
    """The plan PostgreSQL ran ``sent`` with: ``EXPLAIN (ANALYZE, FORMAT JSON)``'s root
    node, with the actual rows of every node."""
    statement, parameters = sent
    async with database.connect() as connection:
        result = await connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
        )
        document = result.scalar_one()
    explained = json.loads(document) if isinstance(document, str) else document
    plan: dict[str, Any] = explained[0]["Plan"]
    return plan


def scans_of(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    """The plan's nodes that read ``table``."""
    found = [plan] if plan.get("Relation Name") == table else []
    for child in plan.get("Plans", ()):
        found += scans_of(child, table)
    return found


def node_types(plan: dict[str, Any]) -> list[str]:
    """Every node's type, the root's first."""
    return [
        plan["Node Type"],
        *(kind for child in plan.get("Plans", ()) for kind in node_types(child)),
    ]
