"""Input that once made the API answer 500: it must be a 4xx (or a 503 when the database
cannot take a write), always as ``{error, message}``."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy import event

from tests.support.api import API, Stack, assert_error, new_email

pytestmark = pytest.mark.integration

DEPTH = 5000
"""Nesting deep enough to exhaust the JSON decoder's recursion limit."""
ORDER_ID = "3f1c1d2e-0000-4000-8000-000000000000"


def deep_body(field: str) -> bytes:
    """A JSON object whose ``field`` is ``DEPTH`` arrays deep."""
    return b'{"' + field.encode() + b'":' + b"[" * DEPTH + b"]" * DEPTH + b"}"


@pytest.mark.parametrize(
    ("path", "field"),
    [("/trade/create-order", "qty"), ("/trade/close-order", "orderId")],
)
async def test_deeply_nested_json_is_refused_not_a_500(stack: Stack, path: str, field: str) -> None:
    session = await stack.sign_in()
    headers = session.auth | {"Content-Type": "application/json"}
    response = await stack.client.post(f"{API}{path}", content=deep_body(field), headers=headers)
    assert_error(response, 422, "validation_error")
    # The same without a session: FastAPI's own path, which refuses it before the session.
    anonymous = await stack.client.post(
        f"{API}{path}", content=deep_body(field), headers={"Content-Type": "application/json"}
    )
    assert anonymous.status_code in (401, 422), anonymous.text


BAD_CURSORS = [
    f"999999999999999999.{ORDER_ID}",  # beyond any date
    f"253402300800000000.{ORDER_ID}",  # the first microsecond of the year 10000
    f"\u00b2.{ORDER_ID}",  # a superscript two: str.isdigit() says yes, int() says no
    f"\u0661\u0662.{ORDER_ID}",  # Arabic-Indic digits
    "1700000000000000." + "x" * 36,  # an id part of the right length that is no UUID
    "1700000000000000." + ORDER_ID.upper().replace("-", "_"),
    f"-1.{ORDER_ID}",
    f"1700000000000000{ORDER_ID}",
    "",
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
async def test_a_cursor_that_nextcursor_never_gave_is_a_422(stack: Stack, cursor: str) -> None:
    session = await stack.sign_in()
    response = await stack.client.get(
        f"{API}/trade/get-close-orders", params={"cursor": cursor}, headers=session.auth
    )
    assert_error(response, 422, "validation_error")


async def test_a_real_cursor_still_pages(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("SOL_USDC", "150.00", "150.02")
    for _ in range(3):
        created = await stack.create_order(session, asset="SOL_USDC", qty="1", leverage=2)
        assert created.status_code == 200, created.text
        closed = await stack.close_order(session, created.json()["orderId"])
        assert closed.status_code == 200, closed.text
    first = await stack.closed_orders(session, limit=2)
    assert len(first["orders"]) == 2 and first["nextCursor"]
    rest = await stack.closed_orders(session, limit=2, cursor=first["nextCursor"])
    assert len(rest["orders"]) == 1 and rest["nextCursor"] is None


FILLERS_PER_LETTER = 40


def fill_and_measure(path: str) -> int:
    """Fill ``users`` with short rows in e-mail order (packed index pages), compact the
    file (no free pages left), and return its page count."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        rows = [
            (f"00000000-0000-4000-8000-{index:012x}", f"{letter}{n:04d}@fill.test")
            for index, (letter, n) in enumerate(
                (letter, n) for letter in "abcdefghijklmnopqrstuvwxyz"
                for n in range(FILLERS_PER_LETTER)
            )
        ]  # fmt: skip
        connection.execute("BEGIN")
        connection.executemany("INSERT INTO users (id, email, balance) VALUES (?, ?, 0)", rows)
        connection.execute("COMMIT")
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert connection.execute("PRAGMA freelist_count").fetchone()[0] == 0
        pages: int = connection.execute("PRAGMA page_count").fetchone()[0]
        return pages
    finally:
        connection.close()


@pytest.mark.engine_running(False)  # the sign-up fails at its first insert, before the engine
async def test_sign_up_on_a_full_disk_is_a_503(embedded: Stack) -> None:
    database = embedded.context.database
    await database.dispose()  # no pooled connection holds the file while it is compacted
    pages = fill_and_measure(str(embedded.settings.sqlite_path))

    def no_room_to_grow(dbapi_connection: Any, _record: Any) -> None:
        # SQLite's own ceiling on the file: growing past it is SQLITE_FULL, exactly as
        # when the disk is full ("database or disk is full").
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count={pages}")
        cursor.close()

    event.listen(database.sync_engine, "connect", no_room_to_grow)
    # An address far longer than any filler: its index entry fits in no packed page.
    local, _, domain = new_email().partition("@")
    email = f"{'m' * 40}{local}@{'m' * 60}.{'m' * 60}.{domain}"
    response = await embedded.client.post(f"{API}/auth/signup", json={"email": email})
    body = assert_error(response, 503, "unavailable")
    assert "database" in body["message"]
    assert embedded.mailbox.links_to(email) == []


OPEN_ORDER_QUERIES = [
    {"cursor": "x" * 36},
    {"cursor": ORDER_ID.upper()},
    {"cursor": f"1700000000000000.{ORDER_ID}"},  # a get-close-orders cursor
    {"cursor": ""},
    {"limit": 0},
    {"limit": 501},
    {"limit": "ten"},
]


@pytest.mark.parametrize("params", OPEN_ORDER_QUERIES)
async def test_a_bad_open_orders_page_is_a_422(stack: Stack, params: dict[str, Any]) -> None:
    session = await stack.sign_in()
    response = await stack.client.get(
        f"{API}/trade/get-open-orders", params=params, headers=session.auth
    )
    assert_error(response, 422, "validation_error")
