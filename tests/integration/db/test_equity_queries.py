"""What the equity history reads: exactly the user's trades of the span (in close order,
in batches) and the right candle per point, on both databases; and how: the trades are a
range of the user's index, a point's price one seek of the candles' key, whatever the
other users hold."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.query_plans import postgres_plan, scans_of, statements
from tests.support.trades import record, trade
from tradepro.db.migrate import upgrade
from tradepro.db.models import Candle
from tradepro.db.queries import equity
from tradepro.db.session import open_database
from tradepro.domain.events import ClosedTrade

pytestmark = pytest.mark.integration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0_US = 1_780_000_000_000_000
INDEX = "ix_existing_trades_user_id_closed_at_id"


def moment(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


async def history(database: AsyncEngine, me: str, count: int) -> list[ClosedTrade]:
    """``count`` trades of ``me`` and as many of four others, a millisecond apart."""
    rng = random.Random(7)
    mine = [trade(me, T0_US + i * 1000, rng, pnl=rng.randrange(-900, 900)) for i in range(count)]
    others = [trade(str(uuid.uuid4()), T0_US + i * 250, rng) for i in range(4 * count)]
    await record(database, mine + others)
    async with database.begin() as connection:
        await connection.exec_driver_sql("ANALYZE")
    return mine


async def test_trades_and_sums_of_the_span_are_exactly_the_users(database_url: str) -> None:
    await upgrade(database_url)
    database = open_database(database_url)
    try:
        me = str(uuid.uuid4())
        mine = await history(database, me, 12_000)
        since, until = moment(T0_US + 3_000_000), moment(T0_US + 9_000_000)
        got = [
            row.id
            async for batch in equity.trades_closed_since(database, me, since, until)
            for row in batch
        ]
        expected = sorted(
            (
                t
                for t in mine
                if moment(t.closed_us) >= since and moment(t.position.opened_us) < until
            ),
            key=lambda t: (t.closed_us, t.position.order_id),
        )
        assert got == [t.position.order_id for t in expected] and len(got) > equity.TRADE_BATCH
        before = sum(t.pnl - t.commission for t in mine if moment(t.closed_us) < since)
        assert await equity.realized_before(database, me, since) == before
    finally:
        await database.dispose()


async def test_a_batch_on_postgresql_is_a_range_of_the_users_index(postgres_url: str) -> None:
    await upgrade(postgres_url)
    database = open_database(postgres_url)
    try:
        me = str(uuid.uuid4())
        await history(database, me, 12_000)
        with statements(database) as sent:
            async for _ in equity.trades_closed_since(
                database, me, moment(T0_US + 3_000_000), moment(T0_US + 20_000_000)
            ):
                pass
        keyset = [item for item in sent if item[0].startswith("SELECT")][1]  # a batch after one
        plan = await postgres_plan(database, keyset)
        [scan] = scans_of(plan, "existing_trades")  # one read of the table (or its heap)
        [index] = [node for node in walk(plan) if node.get("Index Name") == INDEX]
        condition = index["Index Cond"]
        assert "user_id" in condition and "ROW(closed_at, id) >" in condition, condition
        assert scan.get("Rows Removed by Filter", 0) == 0, scan  # nobody else's rows read
        assert index["Actual Rows"] <= 8000, plan  # at most the rest of my span, never theirs
    finally:
        await database.dispose()


def walk(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a plan."""
    return [plan, *(node for child in plan.get("Plans", ()) for node in walk(child))]


async def candles(database: AsyncEngine, asset: str, minutes: list[int]) -> None:
    rows = [
        dict(asset=asset, start_s=start, open=1, high=9, low=1, close=start // 60, quotes=1,
             simulated=False)
        for start in minutes
    ]  # fmt: skip
    async with database.begin() as connection:
        await connection.execute(insert(Candle), rows)


async def test_each_point_takes_the_last_minute_that_ended_by_it(database_url: str) -> None:
    await upgrade(database_url)
    database = open_database(database_url)
    try:
        base = 1_780_000_000 // 3600 * 3600
        # BTC: minutes with a gap; ETH every minute (never read for BTC).
        await candles(database, "BTC_USDC", [base - 60, base + 60, base + 3540, base + 7260])
        await candles(database, "ETH_USDC", [base + 60 * i for i in range(-10, 200)])
        points = [base, base + 3600, base + 7200, base + 7320]
        got = await equity.closes_at(database, "BTC_USDC", points, 3600)
        close = lambda start: start // 60  # noqa: E731
        # base: the minute before it; base+3600: base+3540; base+7200: still base+3540
        # (base+7260 has not ended); base+7320 (the last, off the step): base+7260.
        assert got == [close(base - 60), close(base + 3540), close(base + 3540),
                       close(base + 7260)]  # fmt: skip
        assert await equity.closes_at(database, "SOL_USDC", points, 3600) == [None] * 4
        regular = await equity.closes_at(database, "BTC_USDC", points[:-1], 3600)
        assert regular == got[:-1]
    finally:
        await database.dispose()


async def test_a_point_is_one_seek_of_the_candles_key_on_postgresql(postgres_url: str) -> None:
    await upgrade(postgres_url)
    database = open_database(postgres_url)
    try:
        base = 1_780_000_000 // 3600 * 3600
        for asset in ("BTC_USDC", "ETH_USDC", "SOL_USDC"):
            await candles(database, asset, [base + 60 * i for i in range(20_000)])
        async with database.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
        with statements(database) as sent:
            got = await equity.closes_at_points(
                database, "BTC_USDC", base + 3600, 3600, base + 36_000
            )
        assert got == [(base + 3600 * k - 60) // 60 for k in range(1, 11)]
        plan = await postgres_plan(database, [item for item in sent if "candles" in item[0]][-1])
        scans = scans_of(plan, "candles")
        assert scans and all("Index" in scan["Node Type"] for scan in scans), plan
        # One row per point: a backward seek, never the 20,000 minutes of the asset.
        assert all(scan["Actual Rows"] <= 1 for scan in scans), plan
    finally:
        await database.dispose()
