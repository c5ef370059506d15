"""Pages of candles: exact wherever the window is, and a page of rows read per page.

``read_candles`` builds a wider candle only from the minute rows near the window's end
(a candle holds at most ``width / 60`` of them); the property test compares it with the
candles merged the obvious way from every row, on PostgreSQL and on SQLite, and the plan
test counts the rows PostgreSQL reads for a page of an asset with a long history.
"""

from __future__ import annotations

import functools
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.query_plans import postgres_plan, scans_of, statements
from tradepro.db.migrate import upgrade
from tradepro.db.models import Candle as CandleRow
from tradepro.db.queries.candles import MINUTE_S, Window, read_candles
from tradepro.db.session import open_database
from tradepro.domain.candles import Candle
from tradepro.feeds.candles import merge

pytestmark = pytest.mark.integration

T0 = 1_780_000_000 // 3600 * 3600  # an hour boundary
WIDTHS = [60, 300, 900, 3600]


def minutes(asset: str, indexes: set[int]) -> list[Candle]:
    """One-minute candles of ``asset`` at ``T0`` + these minutes, in time order."""
    rng = random.Random(asset)
    found = []
    for index in sorted(indexes):
        opened, closed = rng.randint(900, 1100), rng.randint(900, 1100)
        high = max(opened, closed) + rng.randint(0, 50)
        low = min(opened, closed) - rng.randint(0, 50)
        simulated = rng.random() < 0.2
        candle = Candle(asset, T0 + index * MINUTE_S, opened, high, low, closed, 1, simulated)
        found.append(candle._replace(quotes=rng.randint(1, 600)))
    return found


async def store(database: AsyncEngine, rows: list[Candle]) -> None:
    if rows:
        async with database.begin() as connection:
            await connection.execute(insert(CandleRow), [row._asdict() for row in rows])


def expected(rows: list[Candle], width_s: int, window: Window) -> list[Candle]:
    """The window's candles merged from every one of its minute rows, oldest first."""
    buckets: dict[int, list[Candle]] = {}
    for row in rows:
        inside = (window.first_s is None or row.start_s >= window.first_s) and (
            window.end_s is None or row.start_s < window.end_s
        )
        if inside:
            buckets.setdefault(row.start_s - row.start_s % width_s, []).append(row)
    candles = [
        functools.reduce(merge, members)._replace(start_s=start)
        for start, members in sorted(buckets.items())
    ]
    return candles[: window.limit] if window.forward else candles[-window.limit :]


BOUND = st.none() | st.integers(0, 30)
"""A window bound, in candles from ``T0``."""


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    indexes=st.sets(st.integers(0, 600), max_size=120),
    width_s=st.sampled_from(WIDTHS),
    limit=st.integers(1, 12),
    since=BOUND,
    before=BOUND,
)
async def test_every_window_gets_the_candles_merged_from_all_its_minutes(
    db_engine: AsyncEngine,
    indexes: set[int],
    width_s: int,
    limit: int,
    since: int | None,
    before: int | None,
) -> None:
    asset, neighbour = f"T{uuid.uuid4().hex[:12]}", f"N{uuid.uuid4().hex[:12]}"
    rows = minutes(asset, indexes)
    await store(db_engine, rows + minutes(neighbour, set(range(0, 600, 7))))
    window = Window(
        first_s=None if since is None else T0 + since * width_s,
        end_s=None if before is None else T0 + before * width_s,
        forward=since is not None and before is None,  # as the candles route decides
        limit=limit,
    )
    assert await read_candles(db_engine, asset, width_s, window) == expected(rows, width_s, window)


DAYS = 30


@pytest.mark.parametrize("before_day", [None, DAYS // 2, 2])
async def test_a_page_of_hour_candles_reads_a_page_of_minutes_on_postgresql(
    postgres_url: str, before_day: int | None
) -> None:
    await upgrade(postgres_url)
    database = open_database(postgres_url)
    try:
        rows = minutes("BTC_USDC", set(range(DAYS * 24 * 60)))  # a month of minutes
        for start in range(0, len(rows), 10_000):
            await store(database, rows[start : start + 10_000])
        async with database.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
        end_s = None if before_day is None else T0 + before_day * 86_400
        window = Window(first_s=None, end_s=end_s, forward=False, limit=24)
        with statements(database) as sent:
            found = await read_candles(database, "BTC_USDC", 3600, window)
        assert found == expected(rows, 3600, window)
        plan = await postgres_plan(database, next(pair for pair in sent if "GROUP BY" in pair[0]))
        [scan] = scans_of(plan, "candles")
        # 24 hours of minutes, of the 2,880 to 43,200 before the window's end (the
        # group-by used to read all of them).
        assert scan["Actual Rows"] <= 24 * 60, scan
        assert scan.get("Rows Removed by Filter", 0) == 0, scan
    finally:
        await database.dispose()
