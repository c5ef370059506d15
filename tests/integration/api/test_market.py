"""Candles and instruments: exact aggregation of the minute rows, paging, public access,
and ``{error, message}`` for bad input, on PostgreSQL and on SQLite."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from tests.support.api import API, Stack, assert_error
from tradepro.db.models import Candle
from tradepro.domain.fixed import format_scaled

pytestmark = pytest.mark.integration

T0 = 1_700_000_000 // 3600 * 3600  # an hour boundary
BACKFILLED = 40
"""The first minutes of every series are the simulated feed's backfill."""
PRICE_DECIMALS = {"BTC_USDC": 1, "ETH_USDC": 2}


def minute_rows(asset: str, seed: int, minutes: int = 200) -> list[dict[str, Any]]:
    """Random minutes from ``T0`` on, with gaps (no quote in some minutes)."""
    rng = random.Random(seed)
    rows = []
    price = 950_000
    for index in range(minutes):
        if rng.random() < 0.2:
            continue
        opened = price
        moves = [opened + rng.randint(-500, 500) for _ in range(rng.randint(0, 4))]
        price = moves[-1] if moves else opened
        rows.append(
            {
                "asset": asset,
                "start_s": T0 + 60 * index,
                "open": opened,
                "high": max([opened, *moves]) + rng.randint(0, 50),
                "low": min([opened, *moves]) - rng.randint(0, 50),
                "close": price,
                "quotes": 0 if index < BACKFILLED else rng.randint(1, 600),
                "simulated": index < BACKFILLED or rng.random() < 0.1,
                "backfill": index < BACKFILLED,
            }
        )
    return rows


def reference(rows: list[dict[str, Any]], width_s: int) -> list[dict[str, Any]]:
    """The expected candles, computed the obvious way (rows are in time order)."""
    buckets: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        buckets.setdefault(row["start_s"] - row["start_s"] % width_s, []).append(row)
    decimals = PRICE_DECIMALS[rows[0]["asset"]]
    return [
        {
            "time": start,
            "open": format_scaled(members[0]["open"], decimals),
            "high": format_scaled(max(row["high"] for row in members), decimals),
            "low": format_scaled(min(row["low"] for row in members), decimals),
            "close": format_scaled(members[-1]["close"], decimals),
            "quotes": sum(row["quotes"] for row in members),
            "simulated": any(row["simulated"] for row in members),
            "backfill": any(row["backfill"] for row in members),
        }
        for start, members in sorted(buckets.items())
    ]


async def store(stack: Stack, rows: list[dict[str, Any]]) -> None:
    async with stack.context.database.begin() as connection:
        await connection.execute(insert(Candle), rows)


async def get_candles(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/candles", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["asset"], body["interval"]) == (params["asset"], params.get("interval", "1m"))
    candles: list[dict[str, Any]] = body["candles"]
    return candles


async def test_minute_candles_come_oldest_first_at_the_instruments_scale(stack: Stack) -> None:
    btc, eth = minute_rows("BTC_USDC", 1), minute_rows("ETH_USDC", 2)
    await store(stack, btc + eth)
    async with stack.new_client() as anonymous:  # public: no session needed
        candles = await get_candles(anonymous, asset="ETH_USDC", limit=1000)
    assert candles == reference(eth, 60)
    assert candles[0]["open"] == format_scaled(eth[0]["open"], 2)  # e.g. "9500.00"
    assert len(candles[0]["open"].split(".")[1]) == 2
    assert any(candle["simulated"] for candle in candles)
    assert not all(candle["simulated"] for candle in candles)
    assert any(candle["backfill"] for candle in candles)
    assert not all(candle["backfill"] for candle in candles)


@pytest.mark.parametrize("interval, width_s", [("5m", 300), ("15m", 900), ("1h", 3600)])
async def test_wider_candles_aggregate_the_minutes_exactly(
    stack: Stack, interval: str, width_s: int
) -> None:
    rows = minute_rows("BTC_USDC", width_s)
    await store(stack, rows + minute_rows("ETH_USDC", 7))
    candles = await get_candles(stack.client, asset="BTC_USDC", interval=interval, limit=1000)
    expected = reference(rows, width_s)
    assert candles == expected
    assert len(expected) > 2  # several buckets, some with gaps inside
    assert all(candle["time"] % width_s == 0 for candle in candles)


async def test_limit_takes_the_latest_and_before_and_since_page(stack: Stack) -> None:
    rows = minute_rows("BTC_USDC", 3)
    await store(stack, rows)
    expected = reference(rows, 300)
    client = stack.client
    latest = await get_candles(client, asset="BTC_USDC", interval="5m", limit=5)
    assert latest == expected[-5:]
    # Paging back: every candle that starts before the oldest one shown.
    older = await get_candles(
        client, asset="BTC_USDC", interval="5m", limit=5, before=latest[0]["time"]
    )
    assert older == expected[-10:-5]
    # An unaligned `before` keeps candles that start before it.
    inside = await get_candles(
        client, asset="BTC_USDC", interval="5m", limit=1000, before=latest[0]["time"] + 1
    )
    assert inside == expected[:-4]
    # Catching up: the first `limit` candles from `since` on.
    newer = await get_candles(
        client, asset="BTC_USDC", interval="5m", limit=3, since=older[0]["time"]
    )
    assert newer == expected[-10:-7]
    between = await get_candles(
        client, asset="BTC_USDC", since=T0 + 600, before=T0 + 1200, limit=1000
    )
    assert between == [c for c in reference(rows, 60) if T0 + 600 <= c["time"] < T0 + 1200]
    assert await get_candles(client, asset="BTC_USDC", interval="1h", before=T0) == []
    default = await get_candles(client, asset="BTC_USDC")
    assert len(default) == min(300, len(rows))


async def test_bad_candle_requests_are_named(embedded: Stack) -> None:
    client = embedded.client
    cases = [
        ({"asset": "DOGE_USDC"}, "asset"),
        ({"asset": "BTC_USDC", "interval": "2m"}, "interval"),
        ({"asset": "BTC_USDC", "limit": 0}, "limit"),
        ({"asset": "BTC_USDC", "limit": 1001}, "limit"),
        ({"asset": "BTC_USDC", "before": -1}, "before"),
        ({"asset": "BTC_USDC", "since": "yesterday"}, "since"),
        ({"asset": "BTC_USDC", "since": 120, "before": 60}, "since"),
        ({}, "asset"),
    ]
    for params, field in cases:
        response = await client.get(f"{API}/candles", params=params)
        body = assert_error(response, 422, "validation_error")
        assert body["message"].startswith(f"{field}:"), (params, body)


async def test_instruments_are_public_and_carry_the_trading_rules(embedded: Stack) -> None:
    async with embedded.new_client() as anonymous:
        response = await anonymous.get(f"{API}/instruments")
    assert response.status_code == 200
    assert response.json() == {
        "instruments": [
            {"symbol": "BTC_USDC", "priceDecimals": 1, "qtyDecimals": 5, "maxLeverage": 100,
             "commissionBps": 0, "maintenanceMarginBps": 500},
            {"symbol": "ETH_USDC", "priceDecimals": 2, "qtyDecimals": 4, "maxLeverage": 100,
             "commissionBps": 0, "maintenanceMarginBps": 500},
            {"symbol": "SOL_USDC", "priceDecimals": 2, "qtyDecimals": 2, "maxLeverage": 100,
             "commissionBps": 0, "maintenanceMarginBps": 500},
        ]
    }  # fmt: skip


@pytest.mark.stack_settings(assets=("SOL_USDC",))
async def test_only_configured_assets_have_candles(embedded: Stack) -> None:
    response = await embedded.client.get(f"{API}/candles", params={"asset": "BTC_USDC"})
    assert_error(response, 422, "validation_error")
    instruments = (await embedded.client.get(f"{API}/instruments")).json()["instruments"]
    assert [instrument["symbol"] for instrument in instruments] == ["SOL_USDC"]
