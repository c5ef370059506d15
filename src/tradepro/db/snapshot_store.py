"""The engine's durable state: incremental snapshot saves, whole-snapshot loads, trade rows.

``save`` applies the engine's drained ``ChangeSet``s and the snapshot header in one
transaction, so the database always holds one consistent snapshot and the id of the last
stream entry it includes; recovery is ``restore`` (the rows streamed in chunks into the
engine) then a replay of the stream from that id.
Every write is idempotent by id (a save retried after an unknown outcome, or trades already
written by ``record_trades``, change nothing), and all of them are bulk statements: the
work per row is one tuple of parameters, never an ORM object.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from array import array
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import String

from tradepro.db import packed_positions
from tradepro.db.account_events import EventRow, prune_events, record_events
from tradepro.db.bulk import BulkWriter, Pacer
from tradepro.db.models import Base
from tradepro.db.pending_rows import PENDING, PENDING_FIELDS, record_history, save_pending
from tradepro.db.trade_rows import POSTGRES_RECORD_TRADES, TRADE_COLUMNS, trade_row, utc_time
from tradepro.domain.events import ClosedTrade, EndedOrder, LedgerEntry
from tradepro.domain.order_ids import order_id_time_ms
from tradepro.domain.positions import Position
from tradepro.engine.changes import ChangeSet
from tradepro.engine.core import Engine, EngineConfig
from tradepro.engine.order_window import time_prefix
from tradepro.engine.snapshot import Restorer

USERS: Table = Base.metadata.tables["users"]
TRADES: Table = Base.metadata.tables["existing_trades"]
POSITIONS: Table = Base.metadata.tables["open_positions"]
ENGINE_STATE: Table = Base.metadata.tables["engine_state"]
ORDER_IDS: Table = Base.metadata.tables["engine_order_ids"]
LEASES: Table = Base.metadata.tables["engine_leases"]
LEDGER: Table = Base.metadata.tables["ledger_entries"]
LEDGER_COLUMNS = ("id", "user_id", "kind", "amount", "balance_after", "created_at")

POSITION_FIELDS = Position._fields
"""Column names of ``open_positions`` in snapshot row order (the ``Position`` fields)."""
_POSITION_COLUMNS = ("shard", *POSITION_FIELDS)
_UPDATED_POSITION_COLUMNS = tuple(name for name in POSITION_FIELDS if name != "order_id")
_BALANCE_COLUMNS = ("id", "balance", "engine_shard", "event_seq")
_UUID_FIELDS = frozenset({"order_id", "user_id"})
READ_CHUNK_ROWS = 10_000
"""Rows per chunk when a snapshot is read: a few megabytes in flight, whatever its size."""


class SnapshotFencedError(Exception):
    """A save refused: the shard's stored lease epoch is no longer this store's (another
    engine won the lease). Nothing of the save was written."""


class SnapshotStore:
    """Reads and writes one engine shard's state in ``database``."""

    def __init__(self, database: AsyncEngine, *, shard: int = 0) -> None:
        self.database = database
        self.shard = shard
        self.epoch: int | None = None
        """The lease epoch every save checks (``claim``); None: saves are not fenced."""
        self._dialect = database.dialect.name
        self._bulk = BulkWriter(database.dialect)

    async def save(
        self,
        header: dict[str, Any],
        changes: Sequence[ChangeSet],
        last_entry_id: str,
        *,
        pacer: Pacer | None = None,
    ) -> None:
        """Apply ``changes`` in order and record ``header`` and ``last_entry_id``, atomically.

        ``header`` must be ``snapshot_header(engine)`` taken right after the last drain,
        with no command applied in between. A ``pacer`` spreads a large save out, so the
        database's work never takes a core for long from the engine beside it.
        """
        async with self.database.begin() as connection:
            await self._check_epoch(connection)
            for change_set in changes:
                await self._apply(connection, change_set, pacer)
            # The engine's window moved on: ids before its horizon are refused anyway.
            await connection.execute(
                delete(ORDER_IDS).where(
                    ORDER_IDS.c.shard == self.shard,
                    ORDER_IDS.c.made_ms < header.get("orderIdHorizonMs", 0),
                )
            )
            await connection.execute(self._upsert_state(header, last_entry_id))

    async def claim(self, epoch: int) -> None:
        """Raise the shard's stored lease epoch to ``epoch`` (just won in Redis) and fence
        every later save with it. An equal or higher epoch already stored means another
        engine won after us: ``SnapshotFencedError``."""
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        insert = dialect.insert(LEASES).values(shard=self.shard, epoch=epoch)
        upsert = insert.on_conflict_do_update(
            index_elements=[LEASES.c.shard],
            set_={"epoch": insert.excluded.epoch, "updated_at": func.current_timestamp()},
            where=LEASES.c.epoch < insert.excluded.epoch,
        )
        async with self.database.begin() as connection:
            await connection.execute(upsert)
            stored = (
                await connection.execute(select(LEASES.c.epoch).where(LEASES.c.shard == self.shard))
            ).scalar_one()
        if stored != epoch:
            raise SnapshotFencedError(
                f"shard {self.shard}: epoch {epoch} is stale, the database holds {stored}"
            )
        self.epoch = epoch

    async def stored_epoch(self) -> int | None:
        """The shard's lease epoch in the database (None before any engine claimed one)."""
        async with self.database.connect() as connection:
            query = select(LEASES.c.epoch).where(LEASES.c.shard == self.shard)
            epoch: int | None = (await connection.execute(query)).scalar_one_or_none()
        return epoch

    async def saved_entry_id(self) -> str | None:
        """The last entry id of the saved snapshot (None when none is saved): cheap, for a
        standby that follows how far the primary's saves have come."""
        async with self.database.connect() as connection:
            query = select(ENGINE_STATE.c.last_entry_id).where(ENGINE_STATE.c.shard == self.shard)
            entry_id: str | None = (await connection.execute(query)).scalar_one_or_none()
        return entry_id

    async def _check_epoch(self, connection: AsyncConnection) -> None:
        """First statement of a fenced save: lock the shard's lease row while it still holds
        our epoch. A successor's ``claim`` then waits for this save to commit, and a save
        that starts after the claim finds another epoch and writes nothing."""
        if self.epoch is None:
            return
        touched = await connection.execute(
            update(LEASES)
            .where(LEASES.c.shard == self.shard, LEASES.c.epoch == self.epoch)
            .values(updated_at=func.current_timestamp())
        )
        if touched.rowcount != 1:
            raise SnapshotFencedError(
                f"shard {self.shard}: epoch {self.epoch} is no longer the shard's lease epoch"
            )

    async def record_events(self, rows: Sequence[EventRow]) -> None:
        """Insert account events (those already there are left alone)."""
        if rows:
            async with self.database.begin() as connection:
                await record_events(self._bulk, connection, rows)

    async def prune_events(self, before_us: int) -> int:
        """Delete account events older than ``before_us`` (each user's latest stays)."""
        async with self.database.begin() as connection:
            return await prune_events(connection, before_us)

    async def record_trades(self, trades: Sequence[ClosedTrade]) -> None:
        """Insert closed trades (those already there are left alone), ahead of a save.

        The owner may have registered after the last save: the row gets a placeholder user
        (no shard, so ``load`` ignores it) until the next save writes its balance. This
        runs beside the engine's loop after every batch that closes something, so on
        PostgreSQL it is one statement over arrays (one round trip, no transaction block).
        """
        if not trades:
            return
        if self._dialect == "postgresql":
            columns = list(zip(*map(trade_row, trades), strict=True))
            async with self.database.connect() as connection:
                driver: Any = (await connection.get_raw_connection()).driver_connection
                await driver.execute(POSTGRES_RECORD_TRADES, *columns)
            return
        async with self.database.begin() as connection:
            owners = dict.fromkeys(trade.position.user_id for trade in trades)
            await self._bulk.insert(
                connection,
                USERS,
                ("id",),
                ((user_id,) for user_id in owners),
                "ON CONFLICT (id) DO NOTHING",
            )
            await self._insert_trades(connection, trades)

    async def record_history(self, ended: Sequence[EndedOrder]) -> None:
        """Insert the history rows of ended pending orders, ahead of a save (idempotent)."""
        if ended:
            async with self.database.begin() as connection:
                await record_history(self._bulk, connection, ended)

    async def record_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """Insert deposits and resets, ahead of a save (those already there are left alone)."""
        if entries:
            async with self.database.begin() as connection:
                await self._insert_ledger(connection, entries)

    async def restore(self, config: EngineConfig) -> tuple[Engine, str] | None:
        """The saved engine under ``config`` and its last entry id; None if none is saved.

        Rows are read in chunks of ``READ_CHUNK_ROWS`` and handed to a ``Restorer`` as they
        come: a restart with millions of open positions never holds them all as rows."""
        async with self._reading() as connection:
            state = await self._state(connection)
            if state is None:
                return None
            header, entry_id = state
            postgres = self._dialect == "postgresql"
            restorer = Restorer(header, config, grouped=postgres)
            if postgres:
                await self._restore_positions_packed(connection, restorer)
            else:
                restorer.add_accounts(await self._accounts(connection))
                async for chunk in self._chunks(connection, self._positions_query()):
                    restorer.add_positions(chunk)
            horizon_ms = header.get("orderIdHorizonMs", 0)
            async for chunk in self._chunks(connection, self._order_ids_query(horizon_ms)):
                restorer.add_order_ids(order_id for (order_id,) in chunk)
            async for chunk in self._chunks(connection, self._pending_query()):
                restorer.add_pending_orders(chunk)
        return restorer.finish(), entry_id

    async def _restore_positions_packed(
        self, connection: AsyncConnection, restorer: Restorer
    ) -> None:
        """Accounts, then open positions packed by the server in chunks
        (``db.packed_positions``) on this connection and one more, while a third groups
        the positions by account: the two others import this transaction's snapshot, so
        all three see one state, and the server's work runs on its own cores beside the
        engine's rebuilding."""
        driver: Any = (await connection.get_raw_connection()).driver_connection
        for setting in packed_positions.SESSION_SETTINGS:
            await driver.execute(setting)
        snapshot_id = str(await driver.fetchval("SELECT pg_export_snapshot()"))
        async with contextlib.AsyncExitStack() as stack:
            grouper = await stack.enter_async_context(self._in_snapshot(snapshot_id))
            packer = await stack.enter_async_context(self._in_snapshot(snapshot_id))
            groups = asyncio.ensure_future(
                grouper.fetch(packed_positions.ACCOUNT_POSITIONS_SQL, self.shard)
            )
            try:
                accounts = await self._accounts(connection)
                restorer.add_accounts(accounts)
                account_ids = [row[0] for row in accounts]
                chunks = packed_positions.read_chunks(
                    (driver, packer), self.shard, restorer.book_names(), account_ids
                )
                async with contextlib.aclosing(chunks):
                    async for columns in chunks:
                        restorer.add_position_columns(columns)
                restorer.add_account_positions(
                    (user_id, locked, _seqs(packed)) for user_id, locked, packed in await groups
                )
            finally:
                if not groups.done():
                    groups.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await groups

    @contextlib.asynccontextmanager
    async def _in_snapshot(self, snapshot_id: str) -> AsyncIterator[Any]:
        """The driver connection of a transaction that sees the exported ``snapshot_id``."""
        async with self.database.connect() as connection:
            await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                await connection.exec_driver_sql(
                    "SET TRANSACTION SNAPSHOT " + packed_positions.snapshot_id_literal(snapshot_id)
                )
                driver: Any = (await connection.get_raw_connection()).driver_connection
                for setting in packed_positions.SESSION_SETTINGS:
                    await driver.execute(setting)
                yield driver

    async def load(self) -> tuple[dict[str, Any], str] | None:
        """The saved snapshot in ``take_snapshot`` form and its last entry id; None if none.

        Everything at once, for tests and tools; the engine service uses ``restore``."""
        async with self._reading() as connection:
            state = await self._state(connection)
            if state is None:
                return None
            header, entry_id = state
            accounts = await self._accounts(connection)
            positions = [
                list(row)
                async for chunk in self._chunks(connection, self._positions_query())
                for row in chunk
            ]
            horizon_ms = header.get("orderIdHorizonMs", 0)
            closed_ids = [
                order_id
                async for chunk in self._chunks(connection, self._order_ids_query(horizon_ms))
                for (order_id,) in chunk
            ]
            pending = [
                list(row)
                async for chunk in self._chunks(connection, self._pending_query())
                for row in chunk
            ]
        horizon = time_prefix(horizon_ms)
        open_ids = [row[1] for row in positions if row[1][:13] >= horizon]
        pending_ids = [row[1] for row in pending if row[1][:13] >= horizon]
        loaded = {
            "accounts": accounts,
            "positions": positions,
            "orderIds": open_ids + closed_ids + pending_ids,
            "pendingOrders": pending,
        }
        return header | loaded, entry_id

    # -- writes ---------------------------------------------------------------------------

    async def _apply(
        self, connection: AsyncConnection, change_set: ChangeSet, pacer: Pacer | None
    ) -> None:
        balances, opened, closed, placed, ended, ledger, event_seqs = change_set
        bulk = self._bulk
        shard = self.shard
        with_seqs = len(event_seqs) == len(balances)
        await bulk.insert(
            connection,
            USERS,
            _BALANCE_COLUMNS if with_seqs else _BALANCE_COLUMNS[:3],
            (
                (
                    (user_id, balance, shard, seq)
                    for (user_id, balance), seq in zip(balances, event_seqs, strict=True)
                )
                if with_seqs
                else ((user_id, balance, shard) for user_id, balance in balances)
            ),
            # Only the engine's columns: e-mail and sign-in time belong to the API.
            "ON CONFLICT (id) DO UPDATE SET balance = excluded.balance, "
            "engine_shard = excluded.engine_shard"
            + (", event_seq = excluded.event_seq" if with_seqs else ""),
            pacer=pacer,
        )
        # Rows of closed positions go first: a partly closed position's row is deleted
        # with its trade and written again from ``opened`` (its new version), and a
        # modified one's is replaced in place.
        closed_ids = (trade.position.order_id for trade in closed)
        await bulk.delete(connection, POSITIONS, "order_id", closed_ids, pacer=pacer)
        await bulk.insert(
            connection,
            POSITIONS,
            _POSITION_COLUMNS,
            ((shard, *p[:4], p.side.value, *p[5:]) for p in opened),
            "ON CONFLICT (order_id) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in _UPDATED_POSITION_COLUMNS),
            pacer=pacer,
        )
        await self._insert_trades(connection, closed, pacer)
        # The window's ids: an open position's is in its row, a closed one's goes here in
        # the transaction that deletes the row (migration 0008); so does a partial close's
        # own id (its trade's id), which the engine refuses to apply twice, and so do the
        # ids of deposits and resets.
        used_ids = [trade.id for trade in closed] + [entry.id for entry in ledger]
        await bulk.insert(
            connection,
            ORDER_IDS,
            ("order_id", "shard", "made_ms"),
            ((order_id, shard, order_id_time_ms(order_id)) for order_id in used_ids),
            "ON CONFLICT (order_id) DO NOTHING",
            pacer=pacer,
        )
        await save_pending(bulk, connection, shard, (placed, ended), pacer)
        await self._insert_ledger(connection, ledger, pacer)

    async def _insert_ledger(
        self,
        connection: AsyncConnection,
        entries: Sequence[LedgerEntry],
        pacer: Pacer | None = None,
    ) -> None:
        await self._bulk.insert(
            connection,
            LEDGER,
            LEDGER_COLUMNS,
            ((*entry[:5], utc_time(entry.created_us)) for entry in entries),
            "ON CONFLICT (id) DO NOTHING",
            pacer=pacer,
        )

    async def _insert_trades(
        self, connection: AsyncConnection, trades: Sequence[ClosedTrade], pacer: Pacer | None = None
    ) -> None:
        await self._bulk.insert(
            connection,
            TRADES,
            TRADE_COLUMNS,
            map(trade_row, trades),
            "ON CONFLICT (id) DO NOTHING",
            pacer=pacer,
        )

    def _upsert_state(self, header: dict[str, Any], last_entry_id: str) -> Any:
        insert = (
            postgresql.insert(ENGINE_STATE)
            if self._dialect == "postgresql"
            else sqlite.insert(ENGINE_STATE)
        ).values(shard=self.shard, last_entry_id=last_entry_id, header=header)
        return insert.on_conflict_do_update(
            index_elements=[ENGINE_STATE.c.shard],
            set_={
                "last_entry_id": insert.excluded.last_entry_id,
                "header": insert.excluded.header,
                "updated_at": func.current_timestamp(),
            },
        )

    # -- reads ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction that sees one state of the data throughout."""
        async with self.database.connect() as connection:
            if self._dialect == "postgresql":
                await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                yield connection

    async def _state(self, connection: AsyncConnection) -> tuple[dict[str, Any], str] | None:
        """The snapshot header and its last entry id."""
        state = (
            await connection.execute(
                select(ENGINE_STATE.c.header, ENGINE_STATE.c.last_entry_id).where(
                    ENGINE_STATE.c.shard == self.shard
                )
            )
        ).one_or_none()
        return None if state is None else (dict(state.header), state.last_entry_id)

    async def _accounts(self, connection: AsyncConnection) -> list[list[Any]]:
        query = (
            select(self._uuid_text(USERS.c.id), USERS.c.balance, USERS.c.event_seq)
            .where(USERS.c.engine_shard == self.shard)
            .order_by(USERS.c.created_at, USERS.c.id)
        )
        return [list(row) for row in (await connection.execute(query)).all()]

    def _order_ids_query(self, horizon_ms: int) -> Select[Any]:
        """The ids of closed positions in the engine's window, in time order."""
        return (
            select(self._uuid_text(ORDER_IDS.c.order_id))
            .where(ORDER_IDS.c.shard == self.shard, ORDER_IDS.c.made_ms >= horizon_ms)
            .order_by(ORDER_IDS.c.made_ms, ORDER_IDS.c.order_id)
        )

    def _pending_query(self) -> Select[Any]:
        """Pending orders as ``PendingOrder`` fields (side and type as strings), by seq."""
        columns = [
            self._uuid_text(PENDING.c[name]) if name in _UUID_FIELDS else PENDING.c[name]
            for name in PENDING_FIELDS
        ]
        return select(*columns).where(PENDING.c.shard == self.shard).order_by(PENDING.c.seq)

    def _positions_query(self) -> Select[Any]:
        """Open positions as ``Position`` fields (the side as its string), in open order."""
        columns = [
            self._uuid_text(POSITIONS.c[name]) if name in _UUID_FIELDS else POSITIONS.c[name]
            for name in POSITION_FIELDS
        ]
        return select(*columns).where(POSITIONS.c.shard == self.shard).order_by(POSITIONS.c.seq)

    async def _chunks(
        self, connection: AsyncConnection, query: Select[Any]
    ) -> AsyncIterator[Sequence[Sequence[Any]]]:
        """The rows of ``query`` in chunks, straight from the driver: without the Row objects
        SQLAlchemy would build first (a third less per row), and with a server-side cursor,
        so that a million rows are never all in memory. Same connection, so same
        transaction (the reads before this one have begun it).

        On PostgreSQL the next chunk is asked for before this one is handed over: the
        server reads and sends it (on another core) while the caller rebuilds positions
        from this one, instead of both waiting for each other in turn."""
        sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        driver: Any = (await connection.get_raw_connection()).driver_connection
        if self._dialect == "postgresql":
            cursor = await driver.cursor(sql)  # asyncpg
            ahead = asyncio.ensure_future(cursor.fetch(READ_CHUNK_ROWS))
            try:
                while records := await ahead:
                    ahead = asyncio.ensure_future(cursor.fetch(READ_CHUNK_ROWS))
                    await asyncio.sleep(0)  # let the request go out before the caller works
                    yield records
            finally:
                if not ahead.done():
                    ahead.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await ahead
            return
        async with driver.execute(sql) as cursor:  # aiosqlite
            while rows := await cursor.fetchmany(READ_CHUNK_ROWS):
                yield rows

    def _uuid_text(self, column: ColumnElement[Any]) -> ColumnElement[str]:
        """The canonical string form computed by the database: much cheaper than building
        a ``uuid.UUID`` per value in Python when a million rows come back."""
        if self._dialect == "postgresql":
            return column.cast(String).label(column.key)
        hex_text = func.lower(column, type_=String)  # SQLite stores the 32 hex digits
        canonical: ColumnElement[str] = func.substr(hex_text, 1, 8, type_=String)
        for start, length in _UUID_GROUPS:
            canonical = canonical + "-" + func.substr(hex_text, start, length, type_=String)
        return canonical.label(column.key)


_UUID_GROUPS = ((9, 4), (13, 4), (17, 4), (21, 12))
"""(start, length) of the hex groups after the first eight digits."""


def _seqs(packed: bytes) -> array[int]:
    """Big-endian 64-bit integers (``int8send``) as an array."""
    seqs = array("q")
    seqs.frombytes(packed)
    if sys.byteorder == "little":
        seqs.byteswap()
    return seqs
