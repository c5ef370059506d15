"""The terminal on a phone (390x844, touch, mobile emulation) and on a laptop (1440x900):
every screen fits the width, an order is placed and closed by taps, notifications take
their own place (never over a control), history pages back to its first trade, and what
closed while the page was away is listed on return. Symbols read "BTC/USDC" everywhere."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.e2e_pages import (
    Device,
    assert_fits,
    covered_controls,
    new_email,
    on_both_devices,
)
from tests.support.e2e_stack import Stack, wait_until

pytestmark = pytest.mark.integration

ASSET = "BTC_USDC"
PAGE_SIZE = 20  # history.js PAGE_SIZE
MORE_TRADES = PAGE_SIZE + 3  # closed from "another device": with the one closed by tap, 24
NARROW = Device("narrow window", 800, 900)
ORDER = {"asset": ASSET, "side": "buy", "qty": "0.01", "leverage": 10}


class OtherDevice:
    """The same account trading through the API (the browser context's cookie), as from
    another tab or phone: the page only learns of it through its live feed and refreshes."""

    def __init__(self, page: Page, stack: Stack) -> None:
        self.request = page.request
        self.base_url = stack.base_url

    def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Origin": self.base_url, "Idempotency-Key": str(uuid.uuid4())}
        for _ in range(20):  # the API allows a user 20 orders a second
            if body is None:
                response = self.request.get(self.base_url + path)
            else:
                response = self.request.post(self.base_url + path, data=body, headers=headers)
            if response.status != 429:
                break
            time.sleep(0.5)
        assert response.ok, f"{path}: {response.status} {response.text()}"
        answer: dict[str, Any] = response.json()
        return answer

    def open(self, **extra: Any) -> str:
        opened = self.call("/api/v1/trade/create-order", ORDER | extra)
        return str(opened["orderId"])

    def close(self, order_id: str) -> None:
        self.call("/api/v1/trade/close-order", {"orderId": order_id})

    def closed(self) -> list[dict[str, Any]]:
        time.sleep(0.25)  # polled: gently, the page shares this user's reads a second
        orders: list[dict[str, Any]] = self.call("/api/v1/trade/get-close-orders?limit=5")["orders"]
        return orders


def within_width(device: Device, *parts: Locator) -> None:
    """Each part, scrolled to, lies within the screen's width (not off to the right)."""
    for part in parts:
        part.scroll_into_view_if_needed()
        box = part.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= device.width


@on_both_devices
def test_every_screen_fits_orders_go_by_touch_and_notices_cover_nothing(
    device: Device, page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    stack.quote(ASSET, "95000.0", "95010.0")

    # Sign-in, "check your mail", the link's confirmation page: each fits the screen.
    page.goto(stack.base_url + "/")
    expect(page.get_by_role("heading", name="Sign in to TradePro")).to_be_visible()
    assert_fits(page, device)
    shot("sign-in")
    email = new_email()
    page.get_by_label("E-mail").fill(email)
    device.press(page.get_by_role("button", name="Send me a sign-in link"))
    expect(page.get_by_test_id("check-mail")).to_be_visible()
    assert_fits(page, device)
    shot("check-your-mail")
    page.goto(stack.sign_in_link(email))
    expect(page.get_by_role("heading", name=f"Sign in as {email}?")).to_be_visible()
    assert_fits(page, device)
    shot("confirm-sign-in")
    device.press(page.get_by_role("button", name=f"Sign in as {email}"))

    # The terminal: one name for the asset in the picker, the chart's title, the ticket.
    expect(page.get_by_test_id("badge-connection")).to_have_text("Live")
    expect(page.get_by_test_id("ask")).to_have_text("95,010.0")
    expect(page.get_by_test_id("asset-picker").locator("option:checked")).to_have_text("BTC/USDC")
    expect(page.locator("#chart-title")).to_have_text("BTC/USDC · 1m")
    expect(page.get_by_test_id("chart")).to_have_attribute("data-chart", "ready")
    chart = page.get_by_test_id("chart").bounding_box()
    assert chart is not None and chart["x"] >= 0 and chart["x"] + chart["width"] <= device.width
    assert_fits(page, device)
    shot("terminal")

    # An order placed by taps (a covered button would make the tap fail).
    device.press(page.get_by_text("Buy / Long"))
    page.get_by_label("Quantity").fill("0.01")
    device.press(page.get_by_role("button", name="Buy BTC/USDC"))
    expect(page.get_by_test_id("ticket-result")).to_contain_text(
        "Bought 0.01000 BTC/USDC at 95,010.0"
    )
    row = page.get_by_test_id("open-order")
    expect(row).to_have_count(1)
    expect(row.locator("td.asset")).to_have_text("BTC/USDC")
    expect(row.get_by_test_id("pnl")).to_have_text("-$0.10")
    close = row.get_by_role("button", name="Close the long 0.01000 BTC/USDC position")
    within_width(device, row.get_by_test_id("pnl"), close)
    assert_fits(page, device)
    shot("position-open")
    if not device.touch:  # a window made narrow (split screen): cards too, nothing cut off
        page.set_viewport_size({"width": NARROW.width, "height": NARROW.height})
        within_width(NARROW, row.get_by_test_id("pnl"), close)
        assert_fits(page, NARROW)
        shot("position-open-narrow-window")
        page.set_viewport_size({"width": device.width, "height": device.height})

    # ... and closed by a tap: the notification takes its own place, over nothing.
    device.press(close)
    expect(page.get_by_test_id("open-order")).to_have_count(0)
    notice = page.get_by_test_id("toast").filter(has_text="Closed BTC/USDC long")
    expect(notice).to_contain_text("0.01000 BTC/USDC at 95,000.0; PnL -$0.10.")
    expect(page.get_by_test_id("closed-order")).to_have_count(1)
    expect(page.get_by_test_id("closed-order").locator("td.asset")).to_have_text("BTC/USDC")
    assert covered_controls(page) == []
    assert_fits(page, device)
    shot("closed-with-notification")
    device.press(notice.get_by_role("button", name="Dismiss: Closed BTC/USDC long"))
    expect(notice).to_have_count(0)

    # More trades from another device: history shows a page, then pages back to the first.
    other = OtherDevice(page, stack)
    for _ in range(MORE_TRADES):
        other.close(other.open())
    total = MORE_TRADES + 1
    expect(page.get_by_test_id("closed-order")).to_have_count(PAGE_SIZE)
    status = page.get_by_test_id("history-status")
    expect(status).to_have_text(f"Showing the newest {PAGE_SIZE}.")
    older = page.get_by_role("button", name="Show older trades")
    older.scroll_into_view_if_needed()
    assert_fits(page, device)
    shot("history-first-page")
    device.press(older)
    expect(page.get_by_test_id("closed-order")).to_have_count(total)
    expect(status).to_have_text(f"All {total} closed trades are shown: there are no older ones.")
    expect(older).to_be_hidden()
    assert_fits(page, device)
    shot("history-all-pages")

    # Away: the page is closed while a take-profit fires; on return a panel lists it.
    other.open(takeProfit="95500.0")
    page.goto("about:blank")
    stack.quote(ASSET, "95600.0", "95610.0")
    wait_until(lambda: other.closed()[0]["reason"] == "take_profit", 15, "the take-profit")
    page.goto(stack.base_url + "/")
    panel = page.get_by_test_id("away-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("away-trade")).to_have_count(1)
    expect(panel).to_contain_text("1 trade closed since this page last showed your account.")
    expect(panel.get_by_test_id("away-trade")).to_contain_text(
        "BTC/USDC long 0.01000: Take profit at 95,600.0"
    )
    expect(panel.get_by_test_id("away-trade")).to_contain_text("+$5.90")
    assert covered_controls(page) == []
    assert_fits(page, device)
    shot("closed-while-away")
    device.press(panel.get_by_role("button", name="Dismiss the list of trades closed"))
    expect(panel).to_be_hidden()

    # The network drops (and the live connection with it: the ws server restarts meanwhile,
    # which closes it). Back online, the page lists what closed in between.
    badge = page.get_by_test_id("badge-connection")
    page.context.set_offline(True)
    stack.restart("ws")
    expect(badge).not_to_have_text("Live")
    other.close(other.open())
    page.context.set_offline(False)
    expect(badge).to_have_text("Live", timeout=30_000)
    expect(panel.get_by_test_id("away-trade")).to_have_count(1)
    expect(panel.get_by_test_id("away-trade")).to_contain_text("Closed by you at 95,600.0")
    assert_fits(page, device)
    shot("closed-while-offline")
    device.press(panel.get_by_role("button", name="Dismiss the list of trades closed"))
    expect(panel).to_be_hidden()

    # Seen once, listed once: a reload lists nothing.
    page.reload()
    expect(page.get_by_test_id("closed-order")).to_have_count(PAGE_SIZE)
    expect(panel).to_be_hidden()
    assert_fits(page, device)
    shot("back-without-news")
