"""Write partial one-minute candles into the ``candles`` table, merging with stored rows.

One transaction per flush, one ``INSERT ... ON CONFLICT (asset, start_s) DO UPDATE`` per
chunk of rows, in each dialect's own spelling (PostgreSQL ``GREATEST``/``LEAST``, SQLite's
two-argument ``max``/``min``). The update is ``candles.merge`` in SQL: the stored open is
kept, high and low widen, close is the newer one, quote counts add up, and a minute is
simulated if any of its quotes was. Flushes therefore must arrive oldest first, which the
poller's single flusher guarantees.

The simulated feed's first-run history (``feeds.backfill``) goes in through ``backfill``
before the first flush: only for assets that have no candle yet, so a restart, or a
database that already holds recorded prices, never gets it (again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.migrate import upgrade
from tradepro.db.models import Base
from tradepro.db.session import async_url, open_database
from tradepro.feeds.candles import Candle, CandleAggregator

log = logging.getLogger("tradepro.poller")

CANDLES: Table = Base.metadata.tables["candles"]
CHUNK_ROWS = 500
"""Rows per statement: well under both drivers' limits on bound parameters."""


class CandleStore:
    """Upserts candles into the database behind ``database`` (PostgreSQL or SQLite)."""

    def __init__(self, database: AsyncEngine) -> None:
        self.database = database
        self._statement = _upsert_statement(database.dialect.name)

    async def save(self, candles: Sequence[Candle]) -> None:
        """Merge ``candles`` (unique per asset and minute) into the table, atomically."""
        if not candles:
            return
        async with self.database.begin() as connection:
            for start in range(0, len(candles), CHUNK_ROWS):
                rows = [candle._asdict() for candle in candles[start : start + CHUNK_ROWS]]
                await connection.execute(self._statement, rows)

    async def backfill(self, candles: Sequence[Candle]) -> list[str]:
        """Insert ``candles`` for the assets that have no candle at all, in one transaction;
        returns those assets (the others are left as they are)."""
        assets = sorted({candle.asset for candle in candles})
        if not assets:
            return []
        async with self.database.begin() as connection:
            query = select(CANDLES.c.asset).where(CANDLES.c.asset.in_(assets)).distinct()
            recorded = set((await connection.execute(query)).scalars())
            empty = [asset for asset in assets if asset not in recorded]
            rows = [candle._asdict() for candle in candles if candle.asset in empty]
            for start in range(0, len(rows), CHUNK_ROWS):
                await connection.execute(self._statement, rows[start : start + CHUNK_ROWS])
        return empty


def _upsert_statement(dialect: str) -> Any:
    table = CANDLES.c
    if dialect == "postgresql":
        insert: Any = postgresql.insert(CANDLES)
        greatest, least = "greatest", "least"
    elif dialect == "sqlite":
        insert = sqlite.insert(CANDLES)
        greatest, least = "max", "min"  # with two arguments: scalars, not aggregates
    else:
        raise ValueError(f"unsupported database dialect {dialect!r}")
    new = insert.excluded
    return insert.on_conflict_do_update(
        index_elements=[table.asset, table.start_s],
        set_={
            "high": getattr(func, greatest)(table.high, new.high),
            "low": getattr(func, least)(table.low, new.low),
            "close": new.close,
            "quotes": table.quotes + new.quotes,
            "simulated": or_(table.simulated, new.simulated),
            "backfill": or_(table.backfill, new.backfill),
        },
    )


class CandleRecorder:
    """Flushes an aggregator into the database every ``interval_s``, surviving outages.

    Migrations run first (and are retried before each flush until they succeed, so the
    poller can start while the database is down). A failed flush hands its candles back
    to the aggregator and is retried on the next tick; quotes keep flowing meanwhile.
    """

    def __init__(
        self,
        database_url: str,
        aggregator: CandleAggregator,
        *,
        interval_s: float = 1.0,
        timeout_s: float = 10.0,
        history: Callable[[], Sequence[Candle]] | None = None,
    ) -> None:
        self.database_url = database_url
        self.aggregator = aggregator
        self.history = history
        """Backfill candles to insert once, before the first flush (``CandleStore.backfill``)."""
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.saved = 0
        """Candle rows upserted so far."""
        self.failures = 0
        """Flushes (or migration attempts) that failed."""
        self._store: CandleStore | None = None
        self._database: AsyncEngine | None = None
        self._failing = False

    def pending(self) -> int:
        """Partial candles not yet in the database."""
        return len(self.aggregator)

    async def run(self, stop: asyncio.Event) -> None:
        """Migrate, then flush every ``interval_s`` until ``stop``; flush once more, close."""
        try:
            await self.flush()  # runs the migrations
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_s)
                await self.flush()
        finally:
            if self._database is not None:
                await self._database.dispose()

    async def flush(self) -> None:
        """Save what the aggregator holds; on failure keep it for the next flush."""
        try:
            async with asyncio.timeout(self.timeout_s):
                store = await self._ready_store()
                candles = self.aggregator.drain()
                try:
                    await store.save(candles)
                except BaseException:
                    self.aggregator.restore(candles)
                    raise
        except Exception as error:  # noqa: BLE001 - any database failure: keep, retry later
            self.failures += 1
            if not self._failing:
                log.warning(
                    "cannot record candles (%s); keeping them in memory and retrying every "
                    "%.0fs (quotes keep flowing)", error or type(error).__name__, self.interval_s
                )  # fmt: skip
            self._failing = True
            return
        self.saved += len(candles)
        if self._failing:
            log.info("recording candles again (%d saved in this flush)", len(candles))
        self._failing = False

    async def _ready_store(self) -> CandleStore:
        if self._store is None:
            await upgrade(self.database_url)
            options = {"pool_size": 2, "max_overflow": 2} if _is_postgres(self.database_url) else {}
            self._database = open_database(self.database_url, **options)
            self._store = CandleStore(self._database)
        if self.history is not None:
            filled = await self._store.backfill(self.history())
            self.history = None
            if filled:
                log.info(
                    "backfilled a day of SIMULATED one-minute candles (marked backfill) for %s",
                    ", ".join(filled),
                )
        return self._store


def _is_postgres(url: str) -> bool:
    return async_url(url).startswith("postgresql")


__all__ = ["CandleRecorder", "CandleStore"]
