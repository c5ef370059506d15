"""A trader's whole journey in the browser: sign in by e-mailed link, read the chart and
the order preview, buy, watch the PnL follow the feed, close, find the trade in history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.e2e_pages import contract, fill_ticket, new_email, price, usd
from tests.support.e2e_stack import Stack, wait_until
from tradepro.domain.orders import Side
from tradepro.domain.positions import Position

pytestmark = pytest.mark.integration

ASSET = "BTC_USDC"
STARTING_CENTS = 500_000


def test_sign_in_buy_watch_the_pnl_close_and_find_it_in_history(
    page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    btc = contract(ASSET)
    stack.quote(ASSET, "95000.0", "95010.0")
    wait_until(lambda: stack.candles(ASSET), 15, "the poller's first candle")

    # Sign-in page: e-mail, then "check your mail" (in dev: the link is in the API log).
    page.goto(stack.base_url + "/")
    expect(page.get_by_role("heading", name="Sign in to TradePro")).to_be_visible()
    shot("sign-in")
    email = new_email()
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Send me a sign-in link").click()
    expect(page.get_by_test_id("check-mail")).to_contain_text(f"We sent a sign-in link to {email}")
    expect(page.get_by_test_id("dev-link-note")).to_contain_text("printed in the terminal")
    shot("check-your-mail")
    # The link asks before it signs this browser in (nobody else's link can sign it in).
    page.goto(stack.sign_in_link(email))
    expect(page.get_by_role("heading", name=f"Sign in as {email}?")).to_be_visible()
    shot("confirm-sign-in")
    page.get_by_role("button", name=f"Sign in as {email}").click()

    # The terminal: live quote from the feed, the chart from the recorded candles.
    expect(page.get_by_test_id("user-email")).to_have_text(email)
    expect(page.get_by_test_id("badge-connection")).to_have_text("Live")
    expect(page.get_by_test_id("bid")).to_have_text("95,000.0")
    expect(page.get_by_test_id("ask")).to_have_text("95,010.0")
    expect(page.get_by_test_id("spread")).to_have_text("10.0")
    expect(page.get_by_test_id("badge-simulated")).to_be_hidden()
    expect(page.get_by_test_id("balance")).to_have_text("$5,000.00")
    chart = page.get_by_test_id("chart")
    expect(chart).to_have_attribute("data-chart", "ready")
    expect(chart).not_to_have_attribute("data-candles", "0")
    expect(chart.locator("canvas").first).to_be_visible()

    # The ticket previews the margin and liquidation price exactly as the engine will.
    fill_ticket(page, "buy", "0.01", 10)
    qty, ask = 1_000, 950_100  # lots of 0.00001 BTC, ticks of 0.1 USD
    margin = btc.margin(ask, qty, 10)
    liquidation = btc.liquidation_price(Side.BUY, ask, qty, margin)
    expect(page.get_by_test_id("preview-price")).to_have_text("95,010.0")
    expect(page.get_by_test_id("preview-margin")).to_have_text(usd(margin))
    expect(page.get_by_test_id("preview-liquidation")).to_have_text(price(liquidation, ASSET))
    expect(page.get_by_test_id("preview-free")).to_have_text(usd(STARTING_CENTS - margin))
    shot("order-ticket")

    page.get_by_role("button", name="Buy BTC/USDC").click()
    expect(page.get_by_test_id("ticket-result")).to_contain_text(
        "Bought 0.01000 BTC/USDC at 95,010.0"
    )
    row = page.get_by_test_id("open-order")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("liquidation-price")).to_have_text(price(liquidation, ASSET))
    expect(page.get_by_test_id("locked-margin")).to_have_text(usd(margin))
    expect(page.get_by_test_id("balance")).to_have_text(usd(STARTING_CENTS - margin))
    position = Position(1, "", "", ASSET, Side.BUY, qty, 10, ask, margin, None, None,
                        liquidation, None, 0)  # fmt: skip
    expect(row.get_by_test_id("pnl")).to_have_text(usd(btc.pnl(position, 950_000), signed=True))

    # The feed moves: the PnL and the equity follow, tick by tick.
    for bid, ask_text in (("95500.0", "95510.0"), ("94800.0", "94810.0"), ("95600.0", "95610.0")):
        stack.quote(ASSET, bid, ask_text)
        pnl = btc.pnl(position, int(bid.replace(".", "")))
        expect(row.get_by_test_id("mark")).to_have_text(price(int(bid.replace(".", "")), ASSET))
        expect(row.get_by_test_id("pnl")).to_have_text(usd(pnl, signed=True))
        expect(page.get_by_test_id("equity")).to_have_text(usd(STARTING_CENTS + pnl))
    assert pnl == 590  # +$5.90 on 0.01 BTC from 95,010.0 to 95,600.0
    expect(row.get_by_test_id("pnl")).to_have_attribute("data-tone", "up")
    shot("position-in-profit")

    # Close it: the trade leaves the open positions and shows in history with its reason.
    row.get_by_role("button", name="Close the long 0.01000 BTC/USDC position").click()
    expect(page.get_by_test_id("open-order")).to_have_count(0)
    closed = page.get_by_test_id("closed-order")
    expect(closed).to_have_count(1)
    expect(closed.get_by_test_id("reason")).to_have_text("Closed by you")
    expect(closed.get_by_test_id("pnl")).to_have_text("+$5.90")
    expect(closed).to_contain_text("95,600.0")
    expect(page.get_by_test_id("balance")).to_have_text(usd(STARTING_CENTS + pnl))
    expect(page.get_by_test_id("locked-margin")).to_have_text("$0.00")
    toast = page.get_by_test_id("toast").filter(has_text="Closed BTC/USDC long")
    expect(toast).to_contain_text("PnL +$5.90")
    shot("closed-in-history")

    # Signing out ends the session: a reload stays on the sign-in page.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to TradePro")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to TradePro")).to_be_visible()
    expect(page.get_by_test_id("order-ticket")).to_be_hidden()
