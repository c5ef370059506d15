"""History export and statistics: only the caller's own trades, only with a session or a
key, and bad filters refused by name (never a database error)."""

from __future__ import annotations

import random

import pytest

from tests.support.api import API, Stack, assert_error
from tests.support.trades import T0_US, record, trade

pytestmark = pytest.mark.integration

EXPORT = f"{API}/trade/export.csv"
STATS = f"{API}/account/stats"


async def test_export_and_stats_show_only_the_callers_trades(embedded: Stack) -> None:
    me, other = await embedded.sign_in(), await embedded.sign_in()
    rng = random.Random(2)
    mine = trade(me.user_id, T0_US, rng, pnl=100)
    theirs = trade(other.user_id, T0_US + 1, rng, pnl=-777)
    await record(embedded.context.database, [mine, theirs])
    body = (await embedded.client.get(EXPORT, headers=me.auth)).text
    assert mine.position.order_id in body and theirs.position.order_id not in body
    stats = (await embedded.client.get(STATS, headers=me.auth)).json()
    assert stats["trades"] == 1 and stats["totalPnl"] == "1.00"
    # A read key of mine sees the same; nobody without one sees anything.
    made = await embedded.client.post(
        f"{API}/auth/api-keys", json={"name": "reader", "scopes": ["read"]}, headers=me.auth
    )
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    assert (await embedded.client.get(EXPORT, headers=key)).text == body
    assert (await embedded.client.get(STATS, headers=key)).json() == stats
    for route in (EXPORT, STATS):
        assert_error(await embedded.client.get(route), 401, "unauthorized")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=1' OR '1'='1", "from"),
        ("asset=BTC_USDC' --", "asset"),
        ("reason=" + "x" * 10_000, "reason"),
        ("from=9999-12-31T23:59:59%2B14:00&to=0001-01-01", "to"),
        ("from=%00", "from"),
        ("side=BUY", "side"),
        ("to=9999-12-31T23:59:59-14:00", "to"),
    ],
)
async def test_hostile_filters_are_422_naming_the_field(
    embedded: Stack, query: str, field: str
) -> None:
    me = await embedded.sign_in()
    for route in (EXPORT, f"{API}/trade/get-close-orders"):
        response = await embedded.client.get(f"{route}?{query}", headers=me.auth)
        assert field in assert_error(response, 422, "validation_error")["message"], query
