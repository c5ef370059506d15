"""History: get-close-orders filters and the CSV export (same filters), against a model of
the trades written, on both databases; the export streamed with flat memory."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import pytest

from tests.support.api import API, Session, Stack, assert_error
from tests.support.trades import T0_US, mixed, record, trade
from tradepro.api.history import CLOSED_FIELDS
from tradepro.api.readlimit import ReadLimiter
from tradepro.domain.events import ClosedTrade

pytestmark = pytest.mark.integration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXPORT = f"{API}/trade/export.csv"


def iso(micros: int) -> str:
    return (EPOCH + timedelta(microseconds=micros)).isoformat().replace("+00:00", "Z")


def expected_ids(trades: list[ClosedTrade], **kept: Any) -> list[str]:
    """The model: the trades the filters keep, newest first by (close time, order id)."""
    chosen = [
        t
        for t in trades
        if kept.get("asset") in (None, t.position.asset)
        and kept.get("side") in (None, t.position.side.value)
        and kept.get("reason") in (None, t.reason.value)
        and ("from" not in kept or t.closed_us >= kept["from_us"])
        and ("to" not in kept or t.closed_us < kept["to_us"])
    ]
    chosen.sort(key=lambda t: (t.closed_us, t.position.order_id), reverse=True)
    return [t.position.order_id for t in chosen]


def params_of(kept: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in kept.items() if not name.endswith("_us")}


async def all_pages(stack: Stack, session: Session, limit: int, **params: Any) -> list[str]:
    """Every page of get-close-orders with these filters, following ``nextCursor``."""
    ids: list[str] = []
    cursor = None
    while True:
        page = await stack.closed_orders(
            session, limit=limit, **params, **({"cursor": cursor} if cursor else {})
        )
        ids += [order["orderId"] for order in page["orders"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return ids


async def exported(stack: Stack, session: Session, **params: Any) -> list[dict[str, str]]:
    response = await stack.client.get(EXPORT, params=params, headers=session.auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows == [] or list(rows[0]) == list(CLOSED_FIELDS)
    return rows


FILTERS: list[dict[str, Any]] = [
    {},
    {"asset": "ETH_USDC"},
    {"side": "sell"},
    {"reason": "stop_loss"},
    {"asset": "BTC_USDC", "side": "buy", "reason": "user"},
    {"from": iso(T0_US + 20_000), "from_us": T0_US + 20_000},
    {"to": iso(T0_US + 20_000), "to_us": T0_US + 20_000},
    {
        "asset": "SOL_USDC",
        "from": iso(T0_US + 10_000),
        "from_us": T0_US + 10_000,
        "to": iso(T0_US + 50_000),
        "to_us": T0_US + 50_000,
    },
]


def unlimited_reads(stack: Stack) -> None:
    """These tests read many pages at once: the per-user read limit is not what they test."""
    stack.context.reads = ReadLimiter(10**6, 10**6)


async def test_filters_page_and_export_exactly_the_matching_trades(stack: Stack) -> None:
    unlimited_reads(stack)
    me, other = await stack.sign_in(), await stack.sign_in()
    rng = random.Random(7)
    mine = mixed(me.user_id, 120, rng)
    await record(stack.context.database, mine + mixed(other.user_id, 60, rng))
    by_id = {t.position.order_id: t for t in mine}

    for kept in FILTERS:
        expected = expected_ids(mine, **kept)
        params = params_of(kept)
        assert await all_pages(stack, me, 7, **params) == expected, kept
        rows = await exported(stack, me, **params)
        assert [row["orderId"] for row in rows] == expected, kept
    # Each exported row says what get-close-orders says of the trade.
    rows = await exported(stack, me)
    page = (await stack.closed_orders(me, limit=200))["orders"]
    assert len(rows) == len(page) == 120
    for row, order in zip(rows, page, strict=True):
        for name in CLOSED_FIELDS:
            value = order[name]
            text = (
                ""
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
            assert row[name] == text, (name, row, order)
        assert Decimal(row["pnl"]) * 100 == by_id[row["orderId"]].pnl


async def test_a_date_is_midnight_utc_and_bad_filters_are_422_naming_the_field(
    embedded: Stack,
) -> None:
    unlimited_reads(embedded)
    me = await embedded.sign_in()
    day_us = (T0_US // 86_400_000_000) * 86_400_000_000
    rng = random.Random(3)
    inside = trade(me.user_id, day_us + 1, rng)
    before = trade(me.user_id, day_us - 1, rng)
    await record(embedded.context.database, [inside, before])
    date = (EPOCH + timedelta(microseconds=day_us)).date().isoformat()
    assert await all_pages(embedded, me, 5, **{"from": date}) == [inside.position.order_id]
    assert await all_pages(embedded, me, 5, to=date) == [before.position.order_id]

    bad = [
        ({"asset": "DOGE_USDC"}, "asset"),
        ({"side": "long"}, "side"),
        ({"reason": "boredom"}, "reason"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-12-01T00:00:00"}, "from"),  # no offset: not guessed
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "to"),
        ({"asset": "X" * 500}, "asset"),
    ]
    for route in (f"{API}/trade/get-close-orders", EXPORT):
        for params, field in bad:
            response = await embedded.client.get(route, params=params, headers=me.auth)
            body = assert_error(response, 422, "validation_error")
            assert field in body["message"], (route, params, body)


class Export(NamedTuple):
    status: int
    lines: int
    chunks: int
    total_bytes: int
    peak_bytes: int
    """The most memory Python allocated at once meanwhile (``tracemalloc``)."""


async def export_dropping_the_body(stack: Stack, session: Session) -> Export:
    """The export, straight through the app (no HTTP client that would gather the body):
    the body's chunks are counted and dropped as they come."""
    chunks: list[int] = []
    lines = 0
    start: dict[str, Any] = {}
    done = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client stays until the whole body came
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal lines
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body" and message.get("body"):
            chunks.append(len(message["body"]))
            lines += message["body"].count(b"\n")
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    authorization = f"Bearer {session.token}".encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": EXPORT, "raw_path": EXPORT.encode(), "query_string": b"",
        "root_path": "", "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"testserver"), (b"authorization", authorization)],
    }  # fmt: skip
    tracemalloc.start()
    try:
        await stack.app(scope, receive, send)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Export(start["status"], lines, len(chunks), sum(chunks), peak)


async def test_the_export_of_100000_trades_streams_in_flat_memory(stack: Stack) -> None:
    unlimited_reads(stack)
    exports = []
    for count in (10_000, 100_000):
        session = await stack.sign_in()
        rng = random.Random(count)
        trades = [trade(session.user_id, T0_US + index * 10, rng) for index in range(count)]
        await record(stack.context.database, trades, batch=10_000)
        del trades
        export = await export_dropping_the_body(stack, session)
        print(f"\nexported {count} trades: {export}")
        assert export.status == 200
        assert export.lines == count + 1  # the header and every trade
        assert export.chunks >= count // 1000
        assert export.total_bytes > count * 140
        exports.append(export)
    small, large = exports
    # Flat: ten times the trades, not ten times the memory (a result built in memory would
    # hold the 14 MB text at least); the process holds a batch at a time.
    assert large.peak_bytes < 1.5 * small.peak_bytes, exports
    assert large.peak_bytes < large.total_bytes / 3, exports
