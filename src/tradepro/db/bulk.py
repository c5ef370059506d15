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

import asyncio
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Row = Sequence[Any]
Processor = Callable[[Any], Any]

COPY_MIN_ROWS = 500
"""From this many rows on, PostgreSQL gets them by COPY into a staging table and one
``INSERT ... SELECT`` (or ``DELETE ... USING``): a fraction of the server's CPU per row of
a prepared statement run once per row, which on a 2-core machine is CPU taken from the
engine's tick processing while a large snapshot is saved."""
COPY_CHUNK_ROWS = 250
"""Rows encoded per COPY call (under a millisecond of the event loop each)."""
COPY_SLICE_ROWS = 2_000
"""Rows per staged statement (a few milliseconds of the server's CPU each)."""

CHUNK_ROWS = 100
"""Rows per executemany: the event loop runs between chunks, so a large save (its tuples
are built and encoded on the loop, ~7 us a row) stalls the engine's tick processing for
under a millisecond at a time (1,000-row chunks stalled it ~7 ms at a time)."""


class Pacer:
    """Spreads a large write out so that the database never takes a core for long.

    After each slice of rows it waits ``ratio`` times as long as the slice took, until
    ``budget_s`` has passed since it was made; after that the rest goes at full speed, so
    a very large write still ends in reasonable time.
    """

    def __init__(self, ratio: float, budget_s: float) -> None:
        self.ratio = ratio
        self.deadline = asyncio.get_running_loop().time() + budget_s

    async def rest(self, worked_s: float) -> None:
        if asyncio.get_running_loop().time() < self.deadline:
            await asyncio.sleep(worked_s * self.ratio)

    def hurry(self) -> None:
        """No more rests: the rest of the write goes at full speed (e.g. on shutdown)."""
        self.deadline = float("-inf")

    @property
    def hurried(self) -> bool:
        return self.deadline == float("-inf")


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
        *,
        pacer: Pacer | None = None,
    ) -> None:
        """``INSERT INTO table (columns) <rows> <on_conflict>``; rows must have unique keys
        when ``on_conflict`` updates (PostgreSQL cannot update one row twice per statement).
        ``rows`` may be a generator: it is consumed chunk by chunk. A ``pacer`` rests
        between the slices of a large insert.
        """
        many, rows = self._many(rows)
        if many and self._postgres:
            names = self._names(columns)
            into = f"INSERT INTO {self._quote(table.name)} ({names}) SELECT {names} FROM"
            await self._through_staging(
                connection, table, columns, rows, lambda staging: f"{into} {staging} {on_conflict}",
                pacer=pacer,
            )  # fmt: skip
            return
        statement = self._insert_statement(table, columns, on_conflict)
        await self._execute_many(connection, statement, table, columns, rows)

    async def delete(
        self,
        connection: AsyncConnection,
        table: Table,
        column: str,
        keys: Iterable[Any],
        *,
        pacer: Pacer | None = None,
    ) -> None:
        """``DELETE FROM table WHERE column = key`` for each of ``keys``."""
        many, rows = self._many((key,) for key in keys)
        target, key = self._quote(table.name), self._quote(column)
        if many and self._postgres:
            await self._through_staging(
                connection, table, (column,), rows,
                lambda staging: f"DELETE FROM {target} USING {staging} "
                f"WHERE {target}.{key} = {staging}.{key}",
                pacer=pacer,
            )  # fmt: skip
            return
        statement = f"DELETE FROM {target} WHERE {key} = {self._marker(1)}"
        await self._execute_many(connection, statement, table, (column,), rows)

    @staticmethod
    def _many(rows: Iterable[Row]) -> tuple[bool, Iterator[Row]]:
        """Whether there are at least ``COPY_MIN_ROWS`` rows, and all the rows again."""
        remaining = iter(rows)
        first = list(islice(remaining, COPY_MIN_ROWS))
        return len(first) == COPY_MIN_ROWS, chain(first, remaining)

    async def _through_staging(
        self,
        connection: AsyncConnection,
        table: Table,
        columns: tuple[str, ...],
        rows: Iterator[Row],
        statement: Callable[[str], str],
        *,
        pacer: Pacer | None,
    ) -> None:
        """Slice by slice (PostgreSQL): COPY the rows into an empty temporary table with
        these columns, then run ``statement(its quoted name)``. The table lives as long as
        the connection, its rows until the commit; slices keep each statement short, so the
        server's work comes in bursts of milliseconds, not one long one."""
        name = f"tradepro_staging_{table.name}_{len(columns)}_{zlib.crc32(repr(columns).encode())}"
        staging, names = self._quote(name), self._names(columns)
        await self._run(
            connection,
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
            f"SELECT {names} FROM {self._quote(table.name)} WITH NO DATA",
        )
        driver: Any = (await connection.get_raw_connection()).driver_connection
        processors = self._processors(table, columns)
        loop = asyncio.get_running_loop()
        while piece := list(islice(rows, COPY_SLICE_ROWS)):
            started = loop.time()
            await driver.execute(f"TRUNCATE {staging}")
            for start in range(0, len(piece), COPY_CHUNK_ROWS):
                records = _processed(piece[start : start + COPY_CHUNK_ROWS], processors)
                await driver.copy_records_to_table(name, records=records, columns=list(columns))
            await driver.execute(statement(staging))
            if pacer is not None:
                await pacer.rest(loop.time() - started)

    @staticmethod
    async def _run(connection: AsyncConnection, statement: str) -> None:
        """One statement through SQLAlchemy (which begins the transaction if it has not)."""
        await connection.exec_driver_sql(statement)

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
        chunk = list(islice(remaining, CHUNK_ROWS))
        if not chunk:
            return
        # The first chunk through SQLAlchemy: that begins the transaction if the caller's
        # ``begin()`` has not reached the database yet (the asyncpg adapter begins lazily,
        # on its first statement). The rest straight through the driver, on that same
        # connection and transaction: SQLAlchemy's per-call work was a third of the cost
        # of a chunk this small.
        await connection.exec_driver_sql(statement, _processed(chunk, processors))
        driver: Any = (await connection.get_raw_connection()).driver_connection
        while chunk := list(islice(remaining, CHUNK_ROWS)):
            await driver.executemany(statement, _processed(chunk, processors))

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
