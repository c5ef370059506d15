"""Keyset pages of a user's closed trades: exact on both databases, and an index range.

``closed_trades_page`` must return every trade once, in order, whatever the ties on the
close time and wherever the cursor points, and never a row of another user. Its cursor
condition must be part of the index scan (the database starts reading at the cursor), not
a filter over every newer row: the plans are read back from each database's EXPLAIN for a
deep page, with the exact statement and parameters the function sent.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.query_plans import Sent, node_types, postgres_plan, scans_of, statements
from tradepro.db.migrate import upgrade
from tradepro.db.queries.trades import TradeFilter, TradeRow, closed_trades_page
from tradepro.db.session import open_database
from tradepro.db.snapshot_store import SnapshotStore
from tradepro.domain.events import ClosedTrade
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import CloseReason, Side
from tradepro.domain.positions import Position

pytestmark = pytest.mark.integration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0_US = 1_780_000_000_000_000
INDEX = "ix_existing_trades_user_id_closed_at_id"


def closed(user_id: str, closed_us: int, rng: random.Random) -> ClosedTrade:
    """A closed trade of ``user_id`` at ``closed_us`` with a fresh time-ordered id."""
    opened_us = closed_us - rng.randrange(1, 10**9)
    order_id = new_order_id(opened_us // 1000, rng.getrandbits(74))
    position = Position(
        0, order_id, user_id, "BTC_USDC", Side.BUY, 100, 10, 950_000, 950, None, None,
        860_000, None, opened_us,
    )  # fmt: skip
    return ClosedTrade(position, 950_500, 5, CloseReason.USER, closed_us)


def key(trade: ClosedTrade) -> tuple[datetime, str]:
    """The trade's place in the history: ``(closed at, order id)``, newest first."""
    return EPOCH + timedelta(microseconds=trade.closed_us), trade.position.order_id


def row_key(row: TradeRow) -> tuple[datetime, str]:
    return row.closed_at, row.id


async def walk(
    database: AsyncEngine, user_id: str, page_size: int, after: tuple[datetime, str] | None
) -> list[list[TradeRow]]:
    """Every page from ``after`` on, each cursor taken from the previous page's last row."""
    pages = []
    while True:
        rows = await closed_trades_page(database, user_id, after, page_size)
        if not rows:
            return pages
        pages.append(rows)
        after = row_key(rows[-1])


# Few distinct close times, so that many trades tie on them (one tick closes several
# positions at the same microsecond), and another user's trades at the same moments.
CLOSE_TIMES = st.lists(st.integers(0, 6), max_size=40)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mine=CLOSE_TIMES,
    theirs=CLOSE_TIMES,
    page_size=st.integers(1, 7),
    start=st.none() | st.tuples(st.integers(-1, 7), st.uuids().map(str)),
)
async def test_pages_hold_every_trade_once_in_order_from_any_cursor(
    db_engine: AsyncEngine,
    mine: list[int],
    theirs: list[int],
    page_size: int,
    start: tuple[int, str] | None,
) -> None:
    me, other = str(uuid.uuid4()), str(uuid.uuid4())
    rng = random.Random(me)  # fresh order ids: every example writes into the same tables
    my_trades = [closed(me, T0_US + offset, rng) for offset in mine]
    their_trades = [closed(other, T0_US + offset, rng) for offset in theirs]
    await SnapshotStore(db_engine).record_trades(my_trades + their_trades)
    # Any position is a cursor, also one that is no trade of mine (another user's, or
    # made up): it only says where to start in my own rows.
    after = None
    if start is not None:
        after = (EPOCH + timedelta(microseconds=T0_US + start[0]), start[1])
    expected = sorted((key(trade) for trade in my_trades), reverse=True)
    if after is not None:
        expected = [position for position in expected if position < after]

    pages = await walk(db_engine, me, page_size, after)

    assert [row_key(row) for page in pages for row in page] == expected
    assert all(len(page) == page_size for page in pages[:-1])
    assert {row.user_id for page in pages for row in page} <= {me}


def build_history(user_id: str, count: int, tie: int, rng: random.Random) -> list[ClosedTrade]:
    """``count`` trades, ``tie`` of them per close time, 3 ms apart."""
    return [closed(user_id, T0_US + (index // tie) * 3000, rng) for index in range(count)]


async def deep_page_statement(
    database: AsyncEngine, user_id: str, history: list[ClosedTrade], depth: float
) -> Sent:
    """The statement and parameters of the page at ``depth`` (0 newest, 1 oldest) of the
    user's history, as ``closed_trades_page`` sends them."""
    ordered = sorted((key(trade) for trade in history), reverse=True)
    cursor = ordered[int(len(ordered) * depth)]
    with statements(database) as sent:
        rows = await closed_trades_page(database, user_id, cursor, 51)
    assert [row_key(row) for row in rows] == [k for k in ordered if k < cursor][:51]
    [found] = [(sql, parameters) for sql, parameters in sent if sql.startswith("SELECT")]
    return found


async def filled(
    database_url: str,
    per_user: int,
    run: Callable[[AsyncEngine, str, list[ClosedTrade]], Awaitable[None]],
) -> None:
    """A migrated database with ``per_user`` trades of the measured user and as many of
    others (so the user's rows are a part of the table), analyzed; ``run`` gets it."""
    await upgrade(database_url)
    database = open_database(database_url)
    try:
        rng = random.Random(13)
        me = str(uuid.uuid4())
        history = build_history(me, per_user, 4, rng)
        others = [
            trade
            for _ in range(4)
            for trade in build_history(str(uuid.uuid4()), per_user // 4, 4, rng)
        ]
        store = SnapshotStore(database)
        for start in range(0, per_user, 5000):
            await store.record_trades(history[start : start + 5000] + others[start : start + 5000])
        async with database.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
        await run(database, me, history)
    finally:
        await database.dispose()


async def test_a_deep_page_on_postgresql_is_an_index_range_from_the_cursor(
    postgres_url: str,
) -> None:
    async def check(database: AsyncEngine, me: str, history: list[ClosedTrade]) -> None:
        plan = await postgres_plan(database, await deep_page_statement(database, me, history, 0.9))
        [scan] = scans_of(plan, "existing_trades")
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), plan
        assert scan["Index Name"] == INDEX, plan
        condition = scan["Index Cond"]
        assert "user_id" in condition and "ROW(closed_at, id) <" in condition, condition
        assert "Filter" not in scan, scan
        assert scan.get("Rows Removed by Filter", 0) == 0, scan
        assert scan["Actual Rows"] == 51  # one page read, of 20,000 rows of the user
        assert "Sort" not in node_types(plan), plan  # the index gives the order

    await filled(postgres_url, 20_000, check)


async def test_a_deep_page_on_sqlite_searches_the_index_from_the_cursor(sqlite_url: str) -> None:
    async def check(database: AsyncEngine, me: str, history: list[ClosedTrade]) -> None:
        statement, parameters = await deep_page_statement(database, me, history, 0.9)
        async with database.connect() as connection:
            result = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            details = [row[-1] for row in result.all()]
        # One step (no "USE TEMP B-TREE FOR ORDER BY": the index gives the order), a search
        # (older SQLite says "SEARCH TABLE") bounded by the user and the cursor.
        [detail] = details
        assert detail.startswith("SEARCH"), details
        assert detail.endswith(f"USING INDEX {INDEX} (user_id=? AND (closed_at,id)<(?,?))")

    await filled(sqlite_url, 2_000, check)


FILTERED = TradeFilter(
    asset="BTC_USDC",
    side="buy",
    reason="user",
    closed_from=EPOCH + timedelta(microseconds=T0_US),
    closed_to=EPOCH + timedelta(microseconds=T0_US + 10**12),
)
"""Every filter at once (each keeps every trade of ``filled``'s history)."""


async def filtered_deep_page(database: AsyncEngine, me: str, history: list[ClosedTrade]) -> Sent:
    ordered = sorted((key(trade) for trade in history), reverse=True)
    cursor = ordered[int(len(ordered) * 0.9)]
    with statements(database) as sent:
        rows = await closed_trades_page(database, me, cursor, 51, FILTERED)
    assert [row_key(row) for row in rows] == [k for k in ordered if k < cursor][:51]
    [found] = [(sql, parameters) for sql, parameters in sent if sql.startswith("SELECT")]
    return found


async def test_a_filtered_deep_page_on_postgresql_is_still_an_index_range_from_the_cursor(
    postgres_url: str,
) -> None:
    async def check(database: AsyncEngine, me: str, history: list[ClosedTrade]) -> None:
        plan = await postgres_plan(database, await filtered_deep_page(database, me, history))
        [scan] = scans_of(plan, "existing_trades")
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), plan
        assert scan["Index Name"] == INDEX, plan
        condition = scan["Index Cond"]
        assert "user_id" in condition and "ROW(closed_at, id) <" in condition, condition
        # ``to`` is above the cursor, so the cursor is the one upper bound (see the query).
        assert "closed_at >=" in condition, condition
        assert scan["Actual Rows"] == 51  # from the cursor on, one page read
        assert "Sort" not in node_types(plan), plan

    await filled(postgres_url, 20_000, check)


async def test_a_filtered_deep_page_on_sqlite_still_searches_the_index(sqlite_url: str) -> None:
    async def check(database: AsyncEngine, me: str, history: list[ClosedTrade]) -> None:
        statement, parameters = await filtered_deep_page(database, me, history)
        async with database.connect() as connection:
            result = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            details = [row[-1] for row in result.all()]
        [detail] = details
        assert detail.startswith("SEARCH"), details
        assert detail.endswith(
            f"USING INDEX {INDEX} (user_id=? AND closed_at>? AND (closed_at,id)<(?,?))"
        ), details

    await filled(sqlite_url, 2_000, check)
