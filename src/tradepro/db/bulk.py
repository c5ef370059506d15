"""Bulk inserts and deletes at the cost of one tuple per row, for the engine's saves.

SQLAlchemy's executemany builds and type-processes a parameter dict per row in Python:
for 100,000 positions that is seconds of CPU on the engine's event loop. Here each row is
a plain tuple handed to the driver's own executemany (asyncpg pipelines it over one round
trip; sqlite3 runs it in C on aiosqlite's thread), through ``exec_driver_sql`` so it stays
inside the SQLAlchemy transaction. Values still go through each column type's bind
processor for the dialect (the conversions SQLAlchemy itself applies: UUID hex on SQLite,
UTC datetimes), so these rows read back through the ORM like any other.
"""

# Statements are built from table metadata and constant clauses, never from values:
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Row = Sequence[Any]
Processor = Callable[[Any], Any]

CHUNK_ROWS = 1_000
"""Rows per executemany: the event loop runs between chunks, so a large save (its tuples
are built on the loop) never stalls the engine's tick processing for long."""


class BulkWriter:
    """Dialect-specific bulk statements for ``connection``s of one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        if dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"unsupported database dialect {dialect.name!r}")
        self.dialect = dialect
        self._postgres = dialect.name == "postgresql"

    async def insert(
        self,
        connection: AsyncConnection,
        table: Table,
        columns: tuple[str, ...],
        rows: Iterable[Row],
        on_conflict: str = "",
    ) -> None:
        """``INSERT INTO table (columns) <rows> <on_conflict>``; rows must have unique keys
        when ``on_conflict`` updates (PostgreSQL cannot update one row twice per statement).
        ``rows`` may be a generator: it is consumed chunk by chunk.
        """
        statement = self._insert_statement(table, columns, on_conflict)
        await self._execute_many(connection, statement, table, columns, rows)

    async def delete(
        self, connection: AsyncConnection, table: Table, column: str, keys: Iterable[Any]
    ) -> None:
        """``DELETE FROM table WHERE column = key`` for each of ``keys``."""
        statement = (
            f"DELETE FROM {self._quote(table.name)} WHERE {self._quote(column)} = {self._marker(1)}"
        )
        rows = ((key,) for key in keys)
        await self._execute_many(connection, statement, table, (column,), rows)

    async def _execute_many(
        self,
        connection: AsyncConnection,
        statement: str,
        table: Table,
        columns: tuple[str, ...],
        rows: Iterable[Row],
    ) -> None:
        processors = self._processors(table, columns)
        remaining = iter(rows)
        while chunk := list(islice(remaining, CHUNK_ROWS)):
            await connection.exec_driver_sql(statement, _processed(chunk, processors))

    def _processors(self, table: Table, columns: tuple[str, ...]) -> list[tuple[int, Processor]]:
        found: list[tuple[int, Processor]] = []
        for index, name in enumerate(columns):
            column_type = table.c[name].type
            processor = column_type.dialect_impl(self.dialect).bind_processor(self.dialect)
            if processor is not None:
                found.append((index, processor))
        return found

    def _insert_statement(self, table: Table, columns: tuple[str, ...], on_conflict: str) -> str:
        markers = ", ".join(self._marker(number) for number in range(1, len(columns) + 1))
        return (
            f"INSERT INTO {self._quote(table.name)} ({self._names(columns)}) "
            f"VALUES ({markers}) {on_conflict}"
        )

    def _marker(self, number: int) -> str:
        """The driver's positional parameter marker: ``$1`` for asyncpg, ``?`` for sqlite3."""
        return f"${number}" if self._postgres else "?"

    def _names(self, columns: tuple[str, ...]) -> str:
        return ", ".join(self._quote(name) for name in columns)

    def _quote(self, name: str) -> str:
        return self.dialect.identifier_preparer.quote(name)


def _processed(rows: list[Row], processors: list[tuple[int, Processor]]) -> list[tuple[Any, ...]]:
    """The rows as tuples, after the columns' bind processing (column by column)."""
    if not processors:
        return [tuple(row) for row in rows]
    values: list[Any] = list(zip(*rows, strict=True))
    for index, processor in processors:
        values[index] = map(processor, values[index])
    return list(zip(*values, strict=True))
