"""History pages: what a page of get-close-orders costs, near the top and deep in the past.

Fills a fresh database (PostgreSQL by default; ``--sqlite`` for the embedded default's
SQLite file) with one user's ``--trades`` closed trades (100,000) among ``--other-trades``
trades of ``--other-users`` other users, written as the engine writes them
(``SnapshotStore.record_trades``), ``--tie`` trades per close time (one tick closes several
positions at the same microsecond), then ``ANALYZE``. Then, ``--page-size`` (50) per page:

1. Query, through ``closed_trades_page`` as the route calls it (one row more than a
   page): the whole history page after page, following the cursors (``walk_s``, checked:
   every trade once); then page 1 and page ``--deep-page`` (2,000: the last page of a 100k
   history) ``--repeats`` times each, alternating, and their medians (``page1_ms``,
   ``deep_page_ms``) and ratio (``ratio``, target <= 1.5).
2. HTTP (skip with ``--no-http``): a ``tradepro api`` process on the same database (a
   private Redis namespace, or the embedded bus with ``--sqlite``); the same walk and
   medians through ``GET /api/v1/trade/get-close-orders`` (``http_*``).

Last line: JSON with every figure, ``ratio`` and ``http_ratio`` last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from _common import free_port, load_average, process, say, wait_http
from tradepro.db.migrate import upgrade
from tradepro.db.queries.trades import closed_trades_page
from tradepro.db.session import open_database
from tradepro.db.snapshot_store import SnapshotStore
from tradepro.domain.events import ClosedTrade
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import CloseReason, Side
from tradepro.domain.positions import Position
from tradepro.security.tokens import SESSION, issue

SECRET = "bench-secret-" + uuid.uuid4().hex
T0_US = 1_780_000_000 * 10**6
"""The first close time (a recent date): trades close every few milliseconds after it."""
CHUNK = 10_000
RATIO_TARGET = 1.5


def closed_trades(user_id: str, count: int, tie: int, rng: random.Random) -> list[ClosedTrade]:
    """``count`` closed trades of ``user_id``, ``tie`` of them per close time, in time order."""
    trades = []
    for index in range(count):
        closed_us = T0_US + (index // tie) * 3_000
        opened_us = closed_us - rng.randrange(10**6, 10**9)
        order_id = new_order_id(opened_us // 1000, rng.getrandbits(74))
        side = Side.BUY if index % 2 else Side.SELL
        position = Position(
            index, order_id, user_id, "BTC_USDC", side, 100, 10, 950_000, 950, None, None,
            860_000, None, opened_us,
        )  # fmt: skip
        trades.append(ClosedTrade(position, 950_500, 5, CloseReason.USER, closed_us))
    return trades


async def fill(database_url: str, args: argparse.Namespace) -> str:
    """Migrate and fill the database; return the measured user's id."""
    await upgrade(database_url)
    database = open_database(database_url)
    store = SnapshotStore(database)
    rng = random.Random(args.seed)
    user_id = str(uuid.uuid4())
    others = [str(uuid.uuid4()) for _ in range(args.other_users)]
    batches = [closed_trades(user_id, args.trades, args.tie, rng)]
    per_other = args.other_trades // max(1, args.other_users)
    batches += [closed_trades(other, per_other, args.tie, rng) for other in others]
    started = time.perf_counter()
    written = 0
    try:
        for trades in batches:
            for start in range(0, len(trades), CHUNK):
                await store.record_trades(trades[start : start + CHUNK])
            written += len(trades)
        async with database.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
    finally:
        await database.dispose()
    say(f"{written:,} trades written in {time.perf_counter() - started:.1f} s (ANALYZE'd)")
    return user_id


Page = Callable[[Any], Awaitable[tuple[list[str], Any]]]
"""One page after a cursor (None: the first page): its order ids and the next cursor."""


async def measure(page: Page, args: argparse.Namespace, prefix: str) -> dict[str, float]:
    """Walk the whole history, then time page 1 against the deep page, alternating."""
    started = time.perf_counter()
    cursors: list[Any] = [None]
    seen: list[str] = []
    while True:
        ids, cursor = await page(cursors[-1])
        seen += ids
        if cursor is None:
            break
        cursors.append(cursor)
    walk_s = time.perf_counter() - started
    if len(seen) != args.trades or len(set(seen)) != args.trades:
        raise AssertionError(f"the walk saw {len(seen)} trades ({len(set(seen))} distinct)")
    deep = min(args.deep_page, len(cursors)) - 1
    say(f"{prefix}walk: {len(cursors)} pages in {walk_s:.2f} s; timing page 1 and page {deep + 1}")
    first: list[float] = []
    deepest: list[float] = []
    for _ in range(args.repeats):
        for cursor, samples in ((None, first), (cursors[deep], deepest)):
            started = time.perf_counter()
            await page(cursor)
            samples.append(time.perf_counter() - started)
    page1_ms = statistics.median(first) * 1000
    deep_ms = statistics.median(deepest) * 1000
    say(
        f"{prefix}page 1 {page1_ms:.3f} ms, page {deep + 1} {deep_ms:.3f} ms: "
        f"ratio {deep_ms / page1_ms:.2f} (target <= {RATIO_TARGET})"
    )
    return {
        f"{prefix}pages": len(cursors),
        f"{prefix}walk_s": round(walk_s, 3),
        f"{prefix}page1_ms": round(page1_ms, 3),
        f"{prefix}deep_page_ms": round(deep_ms, 3),
        f"{prefix}ratio": round(deep_ms / page1_ms, 3),
    }


async def through_query(
    database_url: str, user_id: str, args: argparse.Namespace
) -> dict[str, float]:
    """Pages from ``closed_trades_page``, one more row than a page as the route asks."""
    database = open_database(database_url)

    async def page(after: tuple[datetime, str] | None) -> tuple[list[str], Any]:
        rows = await closed_trades_page(database, user_id, after, args.page_size + 1)
        ids = [row.id for row in rows[: args.page_size]]
        if len(rows) <= args.page_size:
            return ids, None
        last = rows[args.page_size - 1]
        return ids, (last.closed_at, last.id)

    try:
        return await measure(page, args, "")
    finally:
        await database.dispose()


async def through_http(
    env: dict[str, str], user_id: str, args: argparse.Namespace, work: Path
) -> dict[str, float]:
    """Pages from ``GET /api/v1/trade/get-close-orders`` of a ``tradepro api`` process."""
    token = issue(SECRET, SESSION, user_id, "history@example.com", 3600)[0]
    with process([sys.executable, "-m", "tradepro.cli", "api"], env, work / "api.log"):
        base = f"http://127.0.0.1:{env['API_PORT']}"
        await wait_http(f"{base}/api/v1/instruments")
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

            async def page(cursor: str | None) -> tuple[list[str], Any]:
                params: dict[str, Any] = {"limit": args.page_size}
                if cursor is not None:
                    params["cursor"] = cursor
                response = await client.get("/api/v1/trade/get-close-orders", params=params)
                response.raise_for_status()
                body = response.json()
                return [order["orderId"] for order in body["orders"]], body["nextCursor"]

            return await measure(page, args, "http_")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="tradepro-history-"))
    env = {
        "TRADEPRO_DATA_DIR": str(work),
        "JWT_SECRET": SECRET,
        "API_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
        "READ_LIMIT_PER_S": "1000000",
        "READ_BURST": "1000000",
    }
    admin = None
    if args.sqlite:
        database_url = f"sqlite:///{work}/tradepro.db"  # the embedded default's file
    else:
        name = f"tradepro_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(args.postgres)
        await admin.execute(f'CREATE DATABASE "{name}"')
        database_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
        env |= {
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis,
            "TRADEPRO_BUS_NAMESPACE": f"bench-{uuid.uuid4().hex[:8]}:",
        }
    say(f"{'SQLite' if args.sqlite else 'PostgreSQL'}: load average {load_average()}")
    try:
        user_id = await fill(database_url, args)
        result: dict[str, Any] = {"database": "sqlite" if args.sqlite else "postgresql"}
        result |= {"trades": args.trades, "page_size": args.page_size}
        result |= await through_query(database_url, user_id, args)
        if args.http:
            result |= await through_http(env, user_id, args, work)
    except BaseException:
        say(f"stopped: the api's log (and the SQLite files) are kept in {work}")
        raise
    else:
        shutil.rmtree(work)
    finally:
        if admin is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    result["load_average"] = load_average()
    result["ratio"] = result.pop("ratio")
    if args.http:
        result["http_ratio"] = result.pop("http_ratio")
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--other-users", type=int, default=99)
    parser.add_argument("--other-trades", type=int, default=99_000)
    parser.add_argument("--tie", type=int, default=4, help="trades per close time")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--deep-page", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--sqlite", action="store_true", help="the embedded default's SQLite")
    parser.add_argument("--no-http", dest="http", action="store_false")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    return parser.parse_args()


if __name__ == "__main__":
    figures = asyncio.run(main(parse_args()))
    print(json.dumps(figures), flush=True)
