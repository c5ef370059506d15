"""``GET /account/portfolio-history``: exact figures to the cent on a scripted history
(trades, an open position, candles) on both stacks, and bad spans refused by name."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.api import API, Session, Stack, assert_error
from tests.support.trades import record
from tradepro.api.routes import portfolio
from tradepro.db.models import Candle, ExistingTrade, LedgerEntryRow, User
from tradepro.db.queries.trades import closed_trade
from tradepro.domain.events import ClosedTrade
from tradepro.domain.fixed import div_round_half_even
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import CloseReason, Side
from tradepro.domain.positions import Position

pytestmark = pytest.mark.integration

HISTORY = f"{API}/account/portfolio-history"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR_S = 3600
DAY_S = 24 * HOUR_S
MINUTE_US = 60_000_000


def iso(seconds: int) -> str:
    return (EPOCH + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def closed(
    user_id: str,
    asset: str,
    side: Side,
    qty: int,
    prices: tuple[int, int],
    times_us: tuple[int, int],
    money: tuple[int, int, int],
) -> ClosedTrade:
    """A trade as the engine records it: ``money`` is (margin, pnl, commission) in cents."""
    (open_price, close_price), (opened_us, closed_us) = prices, times_us
    margin, pnl, commission = money
    order_id = new_order_id(opened_us // 1000, random.getrandbits(74))
    position = Position(
        0, order_id, user_id, asset, side, qty, 10, open_price, margin, None, None, 1, None,
        opened_us,
    )  # fmt: skip
    return ClosedTrade(position, close_price, pnl, CloseReason.USER, closed_us, commission)


async def candle(database: AsyncEngine, asset: str, start_s: int, close: int) -> None:
    row = dict(asset=asset, start_s=start_s, open=close, high=close, low=close, close=close)
    async with database.begin() as connection:
        await connection.execute(insert(Candle), [row | {"quotes": 1, "simulated": False}])


async def signed_up(database: AsyncEngine, user_id: str, seconds: int) -> None:
    """An account that was opened at ``seconds`` (sign-up is now in a test)."""
    moment = EPOCH + timedelta(seconds=seconds)
    async with database.begin() as connection:
        await connection.execute(update(User).where(User.id == user_id).values(created_at=moment))


async def ledger(database: AsyncEngine, user_id: str, kind: str, seconds: int, cents: int) -> None:
    """A deposit or reset as the engine service records it (``amount`` signed cents)."""
    row = dict(id=new_order_id(seconds * 1000, random.getrandbits(74)), user_id=user_id,
               kind=kind, amount=cents, balance_after=0,
               created_at=EPOCH + timedelta(seconds=seconds))  # fmt: skip
    async with database.begin() as connection:
        await connection.execute(insert(LedgerEntryRow), [row])


async def history(stack: Stack, session: Session, **params: Any) -> dict[str, Any]:
    response = await stack.client.get(HISTORY, params=params, headers=session.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def usd(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2).quantize(Decimal("0.01")))


@pytest.mark.stack_settings(commission_bps="BTC_USDC=10")
async def test_equity_points_are_exact_on_a_scripted_history(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    me, other = await stack.sign_in(), await stack.sign_in()
    database = stack.context.database
    hour = int(time.time()) // HOUR_S * HOUR_S - 6 * HOUR_S  # H: six whole hours ago
    at = lambda seconds: (hour + seconds) * 1_000_000  # noqa: E731 (µs since H)
    await signed_up(database, me.user_id, hour - HOUR_S)
    await signed_up(database, other.user_id, hour - HOUR_S)
    trades = [
        # Before H: +2.50 (no commission on SOL).
        closed(me.user_id, "SOL_USDC", Side.BUY, 100, (18000, 18250), (at(-2400), at(-1800)),
               (1800, 250, 0)),
        # A: buy 0.01 BTC at 95,000.0 from H+10m to H+2h30m at 96,000.0: PnL 10.00,
        # commission 0.95 at the open and 0.96 at the close (10 bps, rounded up).
        closed(me.user_id, "BTC_USDC", Side.BUY, 1000, (950_000, 960_000),
               (at(600), at(2 * HOUR_S + 1800)), (9500, 1000, 191)),
        # B: sell 1 ETH at 3,500.00 from H+1h05m to H+2h10m at 3,510.00: PnL -10.00.
        closed(me.user_id, "ETH_USDC", Side.SELL, 10_000, (350_000, 351_000),
               (at(HOUR_S + 300), at(2 * HOUR_S + 600)), (35_000, -1000, 0)),
        # Someone else's, at the same times: never in my curve.
        closed(other.user_id, "BTC_USDC", Side.BUY, 1000, (950_000, 960_000),
               (at(600), at(2 * HOUR_S + 1800)), (9500, 99_999, 0)),
    ]  # fmt: skip
    await record(database, trades)
    # Prices: the close of the last minute that ended by each point.
    await candle(database, "BTC_USDC", hour + 59 * 60, 955_000)  # for H+1h: 95,500.0
    await candle(database, "BTC_USDC", hour + 90 * 60, 958_000)  # for H+2h: 95,800.0
    await candle(database, "ETH_USDC", hour + 119 * 60, 350_500)  # for H+2h: 3,505.00
    await candle(database, "BTC_USDC", hour + 120 * 60, 999_000)  # after H+2h: not for it
    got = await history(
        stack, me, interval="1h", **{"from": iso(hour), "to": iso(hour + 3 * HOUR_S)}
    )
    assert got["from"] == iso(hour).replace("Z", ".000Z") and got["interval"] == "1h"
    assert got["points"] == [
        # H: the start 5,000.00 and +2.50 closed before it.
        {"time": iso(hour).replace("Z", ".000Z"), "equity": "5002.50", "unrealizedPnl": "0.00"},
        # H+1h: -0.95 open commission; A at 95,500.0: +5.00.
        {"time": iso(hour + HOUR_S).replace("Z", ".000Z"), "equity": "5006.55",
         "unrealizedPnl": "5.00"},
        # H+2h: A at 95,800.0: +8.00; B at 3,505.00: -5.00.
        {"time": iso(hour + 2 * HOUR_S).replace("Z", ".000Z"), "equity": "5004.55",
         "unrealizedPnl": "3.00"},
        # H+3h: both closed: +10.00 - 0.96 - 10.00.
        {"time": iso(hour + 3 * HOUR_S).replace("Z", ".000Z"), "equity": "5000.59",
         "unrealizedPnl": "0.00"},
    ]  # fmt: skip
    theirs = await history(
        stack, other, interval="1h", **{"from": iso(hour), "to": iso(hour + 3 * HOUR_S)}
    )
    assert [point["equity"] for point in theirs["points"]] == [
        "5000.00", "5005.00", "5008.00", "5999.99"
    ]  # fmt: skip

    # A position open now (from the engine): its open commission and its value count from
    # the first minute after it opened, at the latest recorded price.
    await stack.publish_price("BTC_USDC", "96000.0", "96010.0")
    response = await stack.create_order(me, asset="BTC_USDC", side="buy", qty="0.001", leverage=10)
    assert response.status_code == 200, response.text
    order = response.json()
    opened_us = int(
        (datetime.fromisoformat(order["createdAt"]) - EPOCH) / timedelta(microseconds=1)
    )
    minute_s = opened_us // MINUTE_US * 60
    await candle(database, "BTC_USDC", minute_s, 961_500)
    monkeypatch.setattr(portfolio, "wall_clock_s", lambda: minute_s + 180.5)
    got = await history(stack, me, interval="1m", **{"from": iso(minute_s - 120)})
    open_commission = -(-(960_100 * 100 * 10) // 10**8)  # 10 bps of 96,010.0 x 0.001: 0.10
    value = div_round_half_even((961_500 - 960_100) * 100, 10**4)  # at the mid: 0.14
    assert order["openPrice"] == "96010.0" and open_commission == 10 and value == 14
    expected = []
    for seconds in range(minute_s - 120, minute_s + 181, 60):
        held = seconds * 1_000_000 > opened_us
        cents = 500_059 - (open_commission - value if held else 0)
        expected.append(
            {"time": iso(seconds).replace("Z", ".000Z"), "equity": usd(cents),
             "unrealizedPnl": usd(value if held else 0)}
        )  # fmt: skip
    assert got["points"] == expected


async def test_points_start_after_sign_up_and_bad_spans_are_refused(embedded: Stack) -> None:
    me = await embedded.sign_in()
    client = embedded.client
    # A new account: no point before its sign-up (none at all within its first minute).
    body = await history(embedded, me, interval="1d")
    assert all(point["equity"] == "5000.00" for point in body["points"])
    assert len(body["points"]) <= 1
    now = datetime.now(UTC)
    refused = {
        "interval: not one of": {"interval": "5m"},
        "to: must be after from": {"from": "2026-12-02", "to": "2026-12-01"},
        "1m points cover at most 1 day": {"interval": "1m", "from": "2026-11-01",
                                          "to": "2026-11-03"},
        "1h points cover at most 90 days": {"interval": "1h", "from": "2026-01-01",
                                            "to": "2026-06-01"},
        "from: give the time zone": {"from": "2026-12-01T00:00:00"},
        "from: not an ISO 8601 time": {"from": "yesterday"},
        "from: must be in the past": {"from": (now + timedelta(days=1)).date().isoformat()},
    }  # fmt: skip
    for words, params in refused.items():
        response = await client.get(HISTORY, params=params, headers=me.auth)
        error = assert_error(response, 422, "validation_error")
        if not words.startswith("interval"):
            assert words in error["message"], (params, error)


async def test_a_partial_close_counts_once_whether_its_row_is_written_or_not(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = await stack.sign_in()
    database = stack.context.database
    await signed_up(database, me.user_id, int(time.time()) - HOUR_S)
    await stack.publish_price("BTC_USDC", "95000.0", "95010.0")
    opened = await stack.create_order(me, qty="0.02")
    assert opened.status_code == 200, opened.text
    order = opened.json()
    part = await stack.client.post(
        f"{API}/trade/close-order", json={"orderId": order["orderId"], "qty": "0.01"},
        headers=me.auth,
    )  # fmt: skip
    assert part.status_code == 200, part.text
    assert part.json()["pnl"] == "-0.10" and part.json()["remainingQty"] == "0.01000"
    trade_id = part.json()["tradeId"]
    opened_us = int(
        (datetime.fromisoformat(order["createdAt"]) - EPOCH) / timedelta(microseconds=1)
    )
    minute_s = opened_us // MINUTE_US * 60
    await candle(database, "BTC_USDC", minute_s, 951_000)  # 95,100.0
    monkeypatch.setattr(portfolio, "wall_clock_s", lambda: minute_s + 120.5)

    async def last_point() -> dict[str, Any]:
        got = await history(stack, me, interval="1m", **{"from": iso(minute_s - 60)})
        assert [point["equity"] for point in got["points"][:2]] == ["5000.00", "5000.00"]
        point: dict[str, Any] = got["points"][-1]
        return point

    # After both: -0.10 realized, and the 0.01 still open worth +0.90 at 95,100.0.
    expected = {"time": iso(minute_s + 120).replace("Z", ".000Z"), "equity": "5000.80",
                "unrealizedPnl": "0.90"}  # fmt: skip
    for _ in range(200):  # the engine writes the row a moment after it answers
        if await closed_trade(database, me.user_id, trade_id) is not None:
            break
        await asyncio.sleep(0.05)
    assert await closed_trade(database, me.user_id, trade_id) is not None
    assert await last_point() == expected  # the row and the recent close: counted once
    async with database.begin() as connection:
        await connection.execute(delete(ExistingTrade).where(ExistingTrade.id == trade_id))
    assert await last_point() == expected  # no row yet: the close this process saw


async def test_open_positions_are_read_page_by_page_and_bounded(
    embedded: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = await embedded.sign_in()
    await signed_up(embedded.context.database, me.user_id, int(time.time()) - HOUR_S)
    await embedded.publish_price("BTC_USDC", "95000.0", "95010.0")
    for _ in range(3):
        assert (await embedded.create_order(me, qty="0.001")).status_code == 200
    now_s = int(time.time())
    await candle(embedded.context.database, "BTC_USDC", now_s - now_s % 60, 951_100)
    monkeypatch.setattr(portfolio, "PAGE_MAX", 1)  # a page per position
    monkeypatch.setattr(portfolio, "wall_clock_s", lambda: now_s + 120)
    got = await history(embedded, me, interval="1m", **{"from": iso(now_s - 60)})
    # Three positions of 0.001 opened at 95,010.0, each worth +0.10 at 95,110.0.
    assert got["points"][-1] == {
        "time": iso(now_s + 120 - now_s % 60).replace("Z", ".000Z"),
        "equity": "5000.30",
        "unrealizedPnl": "0.30",
    }
    monkeypatch.setattr(portfolio, "MAX_OPEN_PAGES", 2)
    response = await embedded.client.get(HISTORY, params={"interval": "1m"}, headers=me.auth)
    assert (
        "more than 2 open positions" in assert_error(response, 422, "validation_error")["message"]
    )


async def test_deposits_and_resets_count_in_the_cash_at_their_time(stack: Stack) -> None:
    me, other = await stack.sign_in(), await stack.sign_in()
    database = stack.context.database
    hour = int(time.time()) // HOUR_S * HOUR_S - 6 * HOUR_S
    await signed_up(database, me.user_id, hour - HOUR_S)
    await signed_up(database, other.user_id, hour - HOUR_S)
    await ledger(database, me.user_id, "deposit", hour - 1800, 10_000)  # +100.00 before H
    await ledger(database, me.user_id, "deposit", hour + 1800, 5_025)  # +50.25 in the 1st hour
    # A trade closed at H+1h30m: +12.34; then a reset to 1,000.00 at H+2h30m takes out
    # what the account held beyond it.
    times_us = ((hour + 600) * 1_000_000, (hour + 5400) * 1_000_000)
    trade = closed(me.user_id, "SOL_USDC", Side.BUY, 100, (18000, 18250), times_us, (1800, 1234, 0))
    await record(database, [trade])
    await ledger(database, me.user_id, "reset", hour + 9000, 100_000 - 516_259)
    await ledger(database, other.user_id, "deposit", hour + 1800, 99_999)  # never in mine
    got = await history(
        stack, me, interval="1h", **{"from": iso(hour), "to": iso(hour + 3 * HOUR_S)}
    )
    assert [point["equity"] for point in got["points"]] == [
        "5100.00", "5150.25", "5162.59", "1000.00"
    ]  # fmt: skip


async def test_daily_points_are_exact_across_days(stack: Stack) -> None:
    """``1d``: a point at every UTC midnight, each valued with the latest one-minute close
    that ended by it (hours earlier if need be, never one that starts at the point)."""
    me, other = await stack.sign_in(), await stack.sign_in()
    database = stack.context.database
    day = int(time.time()) // DAY_S * DAY_S - 3 * DAY_S  # D: three midnights ago
    at = lambda seconds: (day + seconds) * 1_000_000  # noqa: E731 (µs since D)
    await signed_up(database, me.user_id, day - HOUR_S)
    await signed_up(database, other.user_id, day - HOUR_S)
    trades = [
        # Before D: +2.50.
        closed(me.user_id, "SOL_USDC", Side.BUY, 100, (18000, 18250), (at(-2400), at(-1800)),
               (1800, 250, 0)),
        # A: buy 0.01 BTC at 95,000.0 from D+10h to D+1d+5h at 96,000.0: +10.00.
        closed(me.user_id, "BTC_USDC", Side.BUY, 1000, (950_000, 960_000),
               (at(10 * HOUR_S), at(DAY_S + 5 * HOUR_S)), (9500, 1000, 0)),
        # B: sell 1 ETH at 3,500.00 from D+1d+20h to D+2d+1h at 3,510.00: -10.00.
        closed(me.user_id, "ETH_USDC", Side.SELL, 10_000, (350_000, 351_000),
               (at(DAY_S + 20 * HOUR_S), at(2 * DAY_S + HOUR_S)), (35_000, -1000, 0)),
        # Someone else's, at the same times: never in my curve.
        closed(other.user_id, "BTC_USDC", Side.BUY, 1000, (950_000, 960_000),
               (at(10 * HOUR_S), at(DAY_S + 5 * HOUR_S)), (9500, 99_999, 0)),
    ]  # fmt: skip
    await record(database, trades)
    await ledger(database, me.user_id, "deposit", day + 2 * DAY_S + 12 * HOUR_S, 5000)
    await ledger(database, other.user_id, "deposit", day + HOUR_S, 77_777)
    await candle(database, "BTC_USDC", day + DAY_S - 5 * HOUR_S, 955_000)  # for D+1d: 95,500.0
    await candle(database, "BTC_USDC", day + DAY_S, 999_000)  # starts at D+1d: not for it
    await candle(database, "ETH_USDC", day + 2 * DAY_S - 60, 350_800)  # for D+2d: 3,508.00
    got = await history(stack, me, interval="1d", **{"from": iso(day), "to": iso(day + 3 * DAY_S)})
    assert got["interval"] == "1d"
    assert [(p["time"], p["equity"], p["unrealizedPnl"]) for p in got["points"]] == [
        (iso(day).replace("Z", ".000Z"), "5002.50", "0.00"),
        # A at 95,500.0: +5.00.
        (iso(day + DAY_S).replace("Z", ".000Z"), "5007.50", "5.00"),
        # A closed (+10.00); B at 3,508.00: -8.00.
        (iso(day + 2 * DAY_S).replace("Z", ".000Z"), "5004.50", "-8.00"),
        # B closed (-10.00); +50.00 deposited.
        (iso(day + 3 * DAY_S).replace("Z", ".000Z"), "5052.50", "0.00"),
    ]
    theirs = await history(
        stack, other, interval="1d", **{"from": iso(day), "to": iso(day + 3 * DAY_S)}
    )
    # Theirs: +777.77 deposited, +5.00 open at D+1d, then +999.99 closed.
    assert [point["equity"] for point in theirs["points"]] == [
        "5000.00", "5782.77", "6777.76", "6777.76"
    ]  # fmt: skip
