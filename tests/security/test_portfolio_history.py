"""The equity history: only the caller's own trades and positions (whatever the query
names), only with a session or a key, and hostile spans refused by name (never a database
error, never an unbounded walk)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from tests.support.api import API, Stack, assert_error
from tests.support.trades import record, trade
from tradepro.db.models import User

pytestmark = pytest.mark.integration

HISTORY = f"{API}/account/portfolio-history"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def test_only_the_callers_trades_and_positions_count(embedded: Stack) -> None:
    me, other = await embedded.sign_in(), await embedded.sign_in()
    database = embedded.context.database
    day_ago = datetime.now(UTC) - timedelta(days=1)
    async with database.begin() as connection:
        await connection.execute(update(User).values(created_at=day_ago))
    rng = random.Random(3)
    closed_us = int((time.time() - 3600) * 1_000_000)
    # Someone else's big win an hour ago, and their position open now.
    await record(database, [trade(other.user_id, closed_us, rng, pnl=1_000_000)])
    await embedded.publish_price("BTC_USDC", "96000.0", "96010.0")
    opened = await embedded.create_order(other, qty="0.01")
    assert opened.status_code == 200, opened.text
    params = {"interval": "1h", "userId": other.user_id, "user_id": other.user_id}
    # One end for every read below (by default it is each request's own second).
    params["to"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    mine = await embedded.client.get(HISTORY, params=params, headers=me.auth)
    assert mine.status_code == 200, mine.text
    points = mine.json()["points"]
    assert len(points) >= 24
    assert {point["equity"] for point in points} == {"5000.00"}
    theirs = await embedded.client.get(HISTORY, params=params, headers=other.auth)
    assert theirs.json()["points"][-1]["equity"] == "15000.00"
    # A read key of mine reads my curve; nobody without a session or key reads any.
    made = await embedded.client.post(
        f"{API}/auth/api-keys", json={"name": "reader", "scopes": ["read"]}, headers=me.auth
    )
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    assert (await embedded.client.get(HISTORY, params=params, headers=key)).json() == mine.json()
    assert_error(await embedded.client.get(HISTORY, params=params), 401, "unauthorized")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=1' OR '1'='1", "from"),
        ("from=" + "9" * 10_000, "from"),
        ("interval=1d&from=0001-01-01", "from, to"),
        ("interval=1m&from=1970-01-01", "from, to"),
        ("from=9999-12-31T23:59:59%2B14:00&to=0001-01-01", "to"),
        ("to=9999-12-31T23:59:59-14:00", "to"),
        ("from=%00", "from"),
        ("from=2999-01-01&to=2999-01-02", "from: must be in the past"),
        ("interval=1s", "interval"),
        ("interval=" + "1m" * 5000, "interval"),
    ],
)
async def test_hostile_spans_are_422_naming_the_field(
    embedded: Stack, query: str, field: str
) -> None:
    me = await embedded.sign_in()
    response = await embedded.client.get(f"{HISTORY}?{query}", headers=me.auth)
    assert field in assert_error(response, 422, "validation_error")["message"], query
