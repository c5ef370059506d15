"""Looking back at an account: the equity curve (with its span switch) over a recorded
history, the statistics' words before the first trade, and the closed trades' filters,
which narrow the table and the CSV download alike and say in words what a bad day range
is, on a laptop and a phone."""

from __future__ import annotations

import csv
import io
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from tests.support.e2e_pages import DESKTOP, PHONE, assert_fits, new_email, sign_in
from tests.support.e2e_stack import Stack
from tests.support.trades import record, trade
from tradepro.db.models import User
from tradepro.db.session import open_database
from tradepro.domain.orders import CloseReason, Side

pytestmark = pytest.mark.integration

WHO = """async () => (await (await fetch("/api/v1/auth/protected-route-test")).json()).id"""

FILTER_QUERY = """async () => {
  const { filterQuery } = await import("/static/js/history_filters.js");
  const out = (values) => {
    const blank = { asset: "", side: "", reason: "", from: "", to: "" };
    const { query, error } = filterQuery({ ...blank, ...values });
    return error ?? query.toString();
  };
  return [
    out({}),
    out({ asset: "ETH_USDC", side: "sell", reason: "stop_loss" }),
    out({ from: "2026-12-01", to: "2026-12-01" }),
    out({ to: "2026-12-31" }),
    out({ from: "2026-12-05", to: "2026-12-01" }),
    out({ from: "2026-02-30" }),
  ];
}"""

SUMMARY = """async () => {
  const { summary } = await import("/static/js/equity.js");
  const point = (time, equity) => ({ time, equity, unrealizedPnl: "0.00" });
  return [
    summary([], "1h").text,
    summary([point("2026-12-05T10:00:00.000Z", "5000.00")], "1m").text,
    summary([point("2026-12-04T00:00:00.000Z", "5000.00"),
             point("2026-12-05T00:00:00.000Z", "4987.66")], "1d"),
  ];
}"""


def test_the_filters_and_the_summary_in_words(module_page: Page) -> None:
    assert module_page.evaluate(FILTER_QUERY) == [
        "",
        "asset=ETH_USDC&side=sell&reason=stop_loss",
        "from=2026-12-01&to=2026-12-02",  # "until" includes its day
        "to=2027-01-01",
        "“Until” (2026-12-01) is before “From” (2026-12-05): pick an end on or after the start.",
        "“From” is not a date: pick one from the calendar.",
    ]
    empty, one, two = module_page.evaluate(SUMMARY)
    assert empty.startswith("No equity history for the last 30 days yet")
    assert one == "$5,000.00 at Dec 5, 10:00 UTC."
    assert two == {"text": "$4,987.66 at Dec 5, 00:00 UTC, -$12.34 since Dec 4, 00:00 UTC.",
                   "tone": "down"}  # fmt: skip


async def opened_hours_ago(database_url: str, user_id: str) -> datetime:
    """The account was opened three hours ago and closed two trades since (rows as the
    engine writes them): +12.34 on BTC two hours ago, -2.00 on ETH (a stop) an hour ago."""
    database = open_database(database_url)
    try:
        async with database.begin() as connection:
            opened = datetime.now(UTC) - timedelta(hours=3)
            await connection.execute(
                update(User).where(User.id == user_id).values(created_at=opened)
            )
        rng = random.Random(4)
        now_us = int(time.time() * 1_000_000)
        hour_us = 3_600_000_000
        await record(database, [
            trade(user_id, now_us - 2 * hour_us, rng, pnl=1234),
            trade(user_id, now_us - hour_us, rng, asset="ETH_USDC", side=Side.SELL,
                  reason=CloseReason.STOP_LOSS, pnl=-200),
        ])  # fmt: skip
    finally:
        await database.dispose()
    return opened


def test_equity_curve_and_history_filters(
    page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    stack.quote("BTC_USDC", "95000.0", "95010.0")
    sign_in(page, stack, new_email())
    # Before any trade: the statistics say so in words.
    expect(page.get_by_test_id("no-stats")).to_be_visible()
    user_id: Any = page.evaluate(WHO)
    opened = stack.background.call(opened_hours_ago(stack.database_url, user_id))
    page.reload()
    expect(page.get_by_test_id("closed-order")).to_have_count(2)
    expect(page.get_by_test_id("no-stats")).to_be_hidden()

    # The curve: a point a minute since the account opened, the latest in words.
    equity = page.get_by_test_id("equity-curve")
    equity.get_by_test_id("equity-span-1m").click()
    expect(equity.get_by_test_id("equity-span-1m")).to_have_attribute("aria-pressed", "true")
    summary = page.get_by_test_id("equity-summary")
    chart = page.get_by_test_id("equity-chart")
    expect(chart).to_have_attribute("data-span", "1m")  # drawn
    expect(summary).to_contain_text("$5,010.34 at")
    expect(summary).to_contain_text("+$10.34 since")
    expect(chart).to_have_attribute("data-chart", "ready")
    points = int(chart.get_attribute("data-points") or 0)
    assert 170 <= points <= 181, points  # three hours of minutes, after the sign-up
    equity.get_by_test_id("equity-span-1d").click()
    expect(chart).to_have_attribute("data-span", "1d")
    if opened.date() == datetime.now(UTC).date():  # no midnight since: now's minute alone
        expect(chart).to_have_attribute("data-points", "1")
        expect(summary).to_have_text(
            re.compile(r"^\$5,010\.34 at [A-Z][a-z]{2} \d+, \d\d:\d\d UTC\.$")
        )
    else:  # opened before midnight UTC (a run in the first three hours of a day)
        expect(chart).to_have_attribute("data-points", "2")
        expect(summary).to_contain_text("$5,010.34 at")
        expect(summary).to_contain_text(", 00:00 UTC.")
    equity.get_by_test_id("equity-span-1h").click()
    expect(chart).to_have_attribute("data-span", "1h")
    expect(summary).to_contain_text("+$10.34 since")
    assert 3 <= int(chart.get_attribute("data-points") or 0) <= 4  # hours since, and now

    # Filters narrow the table and the CSV link carries them.
    history = page.get_by_test_id("history-filters")
    history.get_by_label("Asset").select_option("ETH_USDC")
    history.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("closed-order")).to_have_count(1)
    expect(page.get_by_test_id("closed-order")).to_contain_text("Stop loss")
    expect(page.get_by_test_id("history-status")).to_contain_text("matches your filters")
    csv_link = page.get_by_test_id("history-csv")
    expect(csv_link).to_have_attribute("href", "/api/v1/trade/export.csv?asset=ETH_USDC")
    with page.expect_download() as download:
        csv_link.click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(row["asset"], row["reason"]) for row in rows] == [("ETH_USDC", "stop_loss")]
    history.get_by_label("Closed by").select_option("take_profit")
    history.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("no-closed-orders")).to_have_text(
        "No closed trades match these filters: change or clear them."
    )

    # A day range that ends before it starts: said in words, nothing asked.
    history.get_by_label("From (UTC)").fill("2026-12-05")
    history.get_by_label("Until (UTC, included)").fill("2026-12-01")
    history.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("filter-error")).to_have_text(
        "“Until” (2026-12-01) is before “From” (2026-12-05): pick an end on or after the start."
    )
    for device in (DESKTOP, PHONE):
        page.set_viewport_size({"width": device.width, "height": device.height})
        history.scroll_into_view_if_needed()
        assert_fits(page, device)
        shot(f"history-filters-{device.width}x{device.height}")
        equity.scroll_into_view_if_needed()
        shot(f"equity-{device.width}x{device.height}")
    page.set_viewport_size({"width": DESKTOP.width, "height": DESKTOP.height})
    page.get_by_test_id("filter-clear").click()
    expect(page.get_by_test_id("filter-error")).to_be_hidden()
    expect(page.get_by_test_id("closed-order")).to_have_count(2)
    expect(csv_link).to_have_attribute("href", "/api/v1/trade/export.csv")
