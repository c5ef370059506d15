"""The account's pages for programs and for looking back: API keys (made, shown once with a
copy button, listed, revoked after a confirmation), the statistics of the closed trades,
and the history's CSV download, on a laptop and a phone."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.e2e_pages import DESKTOP, PHONE, assert_fits, new_email, sign_in
from tests.support.e2e_stack import Stack

pytestmark = pytest.mark.integration

TRADE_TWICE = """async () => {
  const post = async (path, body) => {
    const response = await fetch(path, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await response.text());
    return response.json();
  };
  for (const side of ["buy", "sell"]) {
    const order = await post("/api/v1/trade/create-order",
                             { asset: "BTC_USDC", side, qty: "0.01", leverage: 10 });
    await post("/api/v1/trade/close-order", { orderId: order.orderId });
  }
}"""

WITH_KEY = """async ([key, path, method]) => {
  const response = await fetch(path, {
    method, credentials: "omit", headers: { Authorization: `Bearer ${key}` },
  });
  return response.status;
}"""


def test_keys_stats_and_the_csv_download(
    page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    stack.quote("BTC_USDC", "95000.0", "95010.0")
    sign_in(page, stack, new_email())
    page.evaluate(TRADE_TWICE)

    # Statistics: both trades lost the spread (10.0 x 0.01 = $0.10 each).
    expect(page.get_by_test_id("stat-trades")).to_have_text("2")
    expect(page.get_by_test_id("stat-win-rate")).to_have_text("0.00% (0 of 2)")
    expect(page.get_by_test_id("stat-total-pnl")).to_have_text("-$0.20")
    expect(page.get_by_test_id("stat-average-loss")).to_have_text("-$0.10")
    expect(page.get_by_test_id("stat-max-drawdown")).to_have_text("$0.20")
    expect(page.get_by_test_id("stat-commission")).to_have_text("$0.00")  # none configured
    expect(page.get_by_test_id("stat-profit-factor")).to_have_text("0.00")
    for device in (DESKTOP, PHONE):
        page.set_viewport_size({"width": device.width, "height": device.height})
        page.get_by_test_id("stats").scroll_into_view_if_needed()
        assert_fits(page, device)
        shot(f"statistics-{device.width}x{device.height}")
    page.set_viewport_size({"width": DESKTOP.width, "height": DESKTOP.height})

    # The history downloads as CSV: a header and both trades.
    expect(page.get_by_test_id("closed-order")).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_test_id("history-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [row["side"] for row in rows] == ["sell", "buy"]
    assert download.value.suggested_filename.endswith(".csv")

    # A key: named, scoped, shown once with a copy button.
    keys = page.get_by_test_id("api-keys")
    keys.get_by_test_id("key-create").click()
    expect(page.get_by_test_id("key-error")).to_contain_text("Give the key a name")
    keys.get_by_label("Name").fill("my bot")
    keys.get_by_test_id("scope-trade").check()
    keys.get_by_test_id("key-create").click()
    once = page.get_by_test_id("key-once")
    expect(once).to_be_visible()
    expect(once).to_contain_text("shown only this once")
    key = page.get_by_test_id("key-value").input_value()
    assert key.startswith("tpk_") and len(key) == 47
    page.get_by_test_id("key-copy").click()
    expect(page.get_by_test_id("key-copied")).to_be_visible()
    [row] = page.get_by_test_id("key-row").all()
    expect(row).to_contain_text("my bot")
    expect(row).to_contain_text("Read and trade")
    expect(row).to_contain_text(key[:12] + "…")
    assert key not in page.get_by_test_id("key-list").inner_text()
    assert page.evaluate(WITH_KEY, [key, "/api/v1/balance/me", "GET"]) == 200
    for device in (DESKTOP, PHONE):
        page.set_viewport_size({"width": device.width, "height": device.height})
        keys.scroll_into_view_if_needed()
        assert_fits(page, device)
        shot(f"key-shown-once-{device.width}x{device.height}")
    page.set_viewport_size({"width": DESKTOP.width, "height": DESKTOP.height})
    page.get_by_test_id("key-done").click()
    expect(once).to_be_hidden()
    assert page.get_by_test_id("key-value").input_value() == ""

    # Revoking asks first; "Keep it" keeps it; "Yes, revoke" ends it at once.
    row.get_by_test_id("key-revoke").click()
    confirm = page.get_by_test_id("key-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text('Revoke "my bot"? Programs using it stop working at once.')
    page.set_viewport_size({"width": PHONE.width, "height": PHONE.height})
    confirm.scroll_into_view_if_needed()
    shot(f"revoke-confirmation-{PHONE.width}x{PHONE.height}")
    page.set_viewport_size({"width": DESKTOP.width, "height": DESKTOP.height})
    page.get_by_test_id("key-revoke-cancel").click()
    expect(page.get_by_test_id("key-row")).to_have_count(1)
    page.get_by_test_id("key-row").get_by_test_id("key-revoke").click()
    page.get_by_test_id("key-revoke-confirm").click()
    expect(page.get_by_test_id("key-row")).to_have_count(0)
    expect(page.get_by_test_id("no-keys")).to_be_visible()
    status: Any = page.evaluate(WITH_KEY, [key, "/api/v1/balance/me", "GET"])
    assert status == 401
