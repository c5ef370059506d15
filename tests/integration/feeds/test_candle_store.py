"""Candle upserts on PostgreSQL and SQLite: a minute flushed twice merges like one flush."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.servers import free_port
from tradepro.db.models import Candle as CandleRow
from tradepro.db.session import open_database
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.feeds.backfill import simulated_history
from tradepro.feeds.candles import Candle, CandleAggregator
from tradepro.services.poller.candle_store import CandleRecorder, CandleStore

pytestmark = pytest.mark.integration

T0_US = 1_700_000_040 * 1_000_000
START_S = 1_700_000_040


async def stored(db_engine: AsyncEngine) -> list[Candle]:
    table = CandleRow.__table__
    async with db_engine.connect() as connection:
        rows = (await connection.execute(select(table).order_by("start_s", "asset"))).all()
    return [Candle(*row) for row in rows]


async def test_a_minute_spanning_two_flushes_is_merged(db_engine: AsyncEngine) -> None:
    store = CandleStore(db_engine)
    await store.save(
        [
            Candle("BTC_USDC", START_S, 100, 130, 90, 110, 4, False),
            Candle("ETH_USDC", START_S, 50, 50, 50, 50, 1, False),
        ]
    )
    await store.save(
        [
            Candle("BTC_USDC", START_S, 115, 140, 95, 120, 2, True),  # same minute, later
            Candle("BTC_USDC", START_S + 60, 120, 121, 119, 121, 3, False),
        ]
    )
    assert await stored(db_engine) == [
        Candle("BTC_USDC", START_S, 100, 140, 90, 120, 6, True),
        Candle("ETH_USDC", START_S, 50, 50, 50, 50, 1, False),
        Candle("BTC_USDC", START_S + 60, 120, 121, 119, 121, 3, False),
    ]


async def test_low_and_high_only_ever_widen(db_engine: AsyncEngine) -> None:
    store = CandleStore(db_engine)
    await store.save([Candle("SOL_USDC", START_S, 100, 200, 50, 150, 1, False)])
    await store.save([Candle("SOL_USDC", START_S, 120, 120, 120, 120, 1, False)])
    [candle] = await stored(db_engine)
    assert (candle.open, candle.high, candle.low, candle.close) == (100, 200, 50, 120)


async def test_many_rows_go_in_one_flush(db_engine: AsyncEngine) -> None:
    candles = [Candle("BTC_USDC", START_S + 60 * n, n + 1, n + 1, n + 1, n + 1, 1, False)
               for n in range(1_200)]  # fmt: skip
    await CandleStore(db_engine).save(candles)
    assert await stored(db_engine) == candles


async def test_the_recorder_keeps_candles_while_the_database_is_unreachable(
    tmp_path: Path, database_url: str
) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    aggregator = CandleAggregator()
    recorder = CandleRecorder(unreachable, aggregator, timeout_s=5)
    aggregator.add("BTC_USDC", 1000, 1002, T0_US, False)
    await recorder.flush()
    assert recorder.failures == 1 and recorder.pending() == 1
    aggregator.add("BTC_USDC", 1010, 1012, T0_US + 1, False)
    await recorder.flush()
    assert recorder.failures == 2 and recorder.pending() == 1

    recorder.database_url = database_url  # the db_engine is back (migrated on first use)
    await recorder.flush()
    assert recorder.saved == 1 and recorder.pending() == 0
    stop = asyncio.Event()
    stop.set()
    await recorder.run(stop)  # a final flush, then the engine is disposed
    db_engine = open_database(database_url)
    try:
        assert await stored(db_engine) == [Candle("BTC_USDC", START_S, 1001, 1011, 1001, 1011, 2,
                                                 False)]  # fmt: skip
    finally:
        await db_engine.dispose()


async def test_the_backfill_goes_only_into_assets_without_candles_and_only_once(
    db_engine: AsyncEngine,
) -> None:
    store = CandleStore(db_engine)
    recorded = Candle("ETH_USDC", START_S + 600, 50, 50, 50, 50, 1, True)
    await store.save([recorded])
    history = simulated_history(3, DEFAULT_INSTRUMENTS, START_S, minutes=30)

    assert await store.backfill(history) == ["BTC_USDC", "SOL_USDC"]
    first = await stored(db_engine)
    assert first == sorted(
        [candle for candle in history if candle.asset != "ETH_USDC"] + [recorded],
        key=lambda candle: (candle.start_s, candle.asset),
    )
    assert await store.backfill(history) == []  # a restart: nothing again
    assert await stored(db_engine) == first
