"""A margin call caused by the feed: the engine closes the position at the triggering
tick, and the page tells the trader at once, with the reason and the loss (over a live
connection that has just survived a restart of the WebSocket server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.e2e_pages import contract, fill_ticket, new_email, pick, price, sign_in, usd
from tests.support.e2e_stack import Stack
from tradepro.domain.orders import Side
from tradepro.domain.positions import Position

pytestmark = pytest.mark.integration

ASSET = "ETH_USDC"


def test_a_margin_call_from_the_feed_shows_a_notification(
    page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    eth = contract(ASSET)
    stack.quote(ASSET, "3500.00", "3500.50")
    sign_in(page, stack, new_email())
    pick(page, ASSET)
    expect(page.get_by_test_id("ask")).to_have_text("3,500.50")

    # The WebSocket server restarts: the page says it is offline, then reconnects by itself.
    stack.restart("ws")
    expect(page.get_by_test_id("badge-connection")).not_to_have_text("Live")
    expect(page.get_by_test_id("badge-connection")).to_have_text("Live", timeout=30_000)
    expect(page.get_by_test_id("error-banner")).to_be_hidden()

    # 0.5 ETH at 50x: $35.01 of margin, margin call about 1.9 % below the open price.
    fill_ticket(page, "buy", "0.5", 50)
    qty, ask = 5_000, 350_050  # lots of 0.0001 ETH, ticks of 0.01 USD
    margin = eth.margin(ask, qty, 50)
    liquidation = eth.liquidation_price(Side.BUY, ask, qty, margin)
    expect(page.get_by_test_id("preview-liquidation")).to_have_text(price(liquidation, ASSET))
    page.get_by_role("button", name="Buy ETH/USDC").click()
    row = page.get_by_test_id("open-order")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("liquidation-price")).to_have_text(price(liquidation, ASSET))
    shot("position-open")

    # The market drops through the liquidation price: the engine closes at that tick.
    crash_bid = liquidation - 100  # one dollar below
    bid_text = f"{crash_bid // 100}.{crash_bid % 100:02d}"
    stack.quote(ASSET, bid_text, f"{(crash_bid + 50) // 100}.{(crash_bid + 50) % 100:02d}")
    position = Position(1, "", "", ASSET, Side.BUY, qty, 50, ask, margin, None, None,
                        liquidation, None, 0)  # fmt: skip
    loss = max(eth.pnl(position, crash_bid), -margin)  # never more than the margin
    notice = page.get_by_test_id("toast").filter(has_text="Margin call")
    expect(notice).to_be_visible()
    expect(notice).to_have_attribute("data-reason", "margin_call")
    expect(notice).to_contain_text(f"closed at {price(crash_bid, ASSET)}")
    expect(notice).to_contain_text(f"PnL {usd(loss, signed=True)}")
    expect(page.get_by_test_id("open-order")).to_have_count(0)
    closed = page.get_by_test_id("closed-order")
    expect(closed).to_have_count(1)
    expect(closed.get_by_test_id("reason")).to_contain_text("Margin call")
    expect(closed.get_by_test_id("pnl")).to_have_text(usd(loss, signed=True))
    expect(page.get_by_test_id("balance")).to_have_text(usd(500_000 + loss))
    expect(page.get_by_test_id("locked-margin")).to_have_text("$0.00")
    shot("margin-call-notification")
