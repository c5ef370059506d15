"""The feed's state in words, apart from the page's own connection: which feed runs (on the
sign-in page too), no price yet, and, with the fake exchange stopped, "exchange
unreachable" with the offline hint and Buy/Sell disabled with the reason; at 1440x900 and
on a phone (390x844)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.e2e_pages import confirm_link, new_email, pick
from tests.support.e2e_stack import Stack

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
UNREACHABLE = re.compile(
    r"^Exchange unreachable since \d\d?:\d\d(?: [AP]M)? — prices are not updating\. "
    r"To trade offline, run: make run FEED=sim$"
)
PAUSED = "Trading is paused: the exchange cannot be reached, so there is no fresh price."


def test_a_stopped_exchange_is_said_in_words_and_buy_and_sell_wait_for_a_fresh_price(
    page: Page, browser: Browser, stack: Stack, shot: Callable[[str], Path]
) -> None:
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    page.goto(stack.base_url + "/")
    expect(page.get_by_test_id("signin-feed")).to_have_text(
        "Prices come from the Backpack exchange (real market quotes)."
    )
    email = new_email()
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Send me a sign-in link").click()
    note = page.get_by_test_id("dev-link-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("printed in the terminal where TradePro runs (make run or")
    expect(note).not_to_contain_text("tradepro api")
    shot("signin-dev-note-1440x900")
    confirm_link(page, stack, email)
    expect(page.get_by_test_id("user-email")).to_have_text(email)

    buy = page.get_by_test_id("submit-order")
    feed = page.get_by_test_id("feed-state")
    blocked = page.get_by_test_id("ticket-blocked")
    stack.quote("BTC_USDC", "95000.0", "95000.5")
    expect(page.get_by_test_id("bid")).to_have_text("95,000.0")
    expect(feed).to_be_hidden()  # live and fresh: nothing to say
    expect(page.get_by_test_id("chart-backfill")).to_be_hidden()  # real prices, real history
    expect(buy).to_be_enabled()

    pick(page, "SOL_USDC")  # never quoted in this test
    expect(feed).to_have_text("No SOL/USDC price yet — waiting for the first quote")
    expect(buy).to_be_disabled()
    expect(blocked).to_have_text("No SOL/USDC price yet: orders need a live price.")

    pick(page, "BTC_USDC")
    expect(buy).to_be_enabled()
    stack.stop_feed()
    expect(feed).to_have_text(UNREACHABLE)
    expect(feed).to_have_attribute("title", re.compile(r"^Last error: "))
    expect(buy).to_be_disabled()
    expect(blocked).to_have_text(PAUSED)
    expect(page.get_by_test_id("badge-connection")).to_have_text("Live")  # our server is fine
    folder = shot("exchange-unreachable-1440x900").parent  # the phone's shots go there too

    phone = browser.new_context(
        viewport=PHONE,  # type: ignore[arg-type]
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    try:
        on_phone = phone.new_page()

        def simulated(route: Route) -> None:  # as `make run FEED=sim` configures the api
            config = json.loads(route.fetch().text()) | {"feed": "sim"}
            route.fulfill(json=config)

        on_phone.route("**/api/v1/config", simulated)
        on_phone.goto(stack.base_url + "/")
        expect(on_phone.get_by_test_id("signin-feed")).to_have_text(
            "Prices are SIMULATED on this server (a random walk for offline use), not market "
            "quotes."
        )
        on_phone.screenshot(path=str(folder / "03-signin-simulated-390x844.png"))
        phone.add_cookies(page.context.cookies())  # the same session, on the phone
        on_phone.reload()  # still configured as simulated: the chart says its history is
        expect(on_phone.get_by_test_id("chart-backfill")).to_have_text("Simulated history")
        expect(on_phone.get_by_test_id("chart-backfill")).to_have_attribute(
            "title", "The simulated feed generated the day before its first start as history"
        )

        on_phone.unroute("**/api/v1/config")
        on_phone.goto(stack.base_url + "/")
        expect(on_phone.get_by_test_id("chart-backfill")).to_be_hidden()  # Backpack: no backfill
        expect(on_phone.get_by_test_id("feed-state")).to_have_text(UNREACHABLE)  # at once
        expect(on_phone.get_by_test_id("submit-order")).to_be_disabled()
        expect(on_phone.get_by_test_id("ticket-blocked")).to_have_text(PAUSED)
        on_phone.screenshot(path=str(folder / "04-exchange-unreachable-390x844.png"))
        on_phone.get_by_test_id("ticket-blocked").scroll_into_view_if_needed()
        on_phone.screenshot(path=str(folder / "05-buy-disabled-390x844.png"))
    finally:
        phone.close()
