"""What the page says when things are not fine: no chart library, no price yet, simulated
or stale prices, a number the instrument cannot take, an order the engine refuses, an
expired session."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.e2e_pages import fill_ticket, new_email, pick, sign_in
from tests.support.e2e_stack import MAX_PRICE_AGE_S, Stack

pytestmark = pytest.mark.integration

ASSET = "SOL_USDC"  # no other step quotes it: it starts with no price at all


def test_badges_and_errors_are_shown_in_words(
    page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    # As on a machine without npm: the chart library is missing, everything else works.
    page.route("**/static/vendor/**", lambda route: route.fulfill(status=404, body="missing"))
    sign_in(page, stack, new_email())
    expect(page.get_by_test_id("chart-note")).to_contain_text(
        "The chart library is not installed on this server"
    )
    expect(page.get_by_test_id("chart")).to_have_attribute("data-chart", "missing")
    expect(page.get_by_test_id("equity-chart")).to_have_attribute("data-chart", "missing")
    expect(page.get_by_test_id("equity-note")).to_have_text(
        "The chart library is not installed on this server."
    )
    expect(page.get_by_test_id("equity-summary")).to_contain_text("No equity history")
    pick(page, ASSET)
    expect(page.get_by_test_id("badge-stale")).to_have_text("No price yet")
    expect(page.get_by_test_id("preview-price")).to_have_text("waiting for a live price")

    # Simulated quotes (as `tradepro poller --feed sim` sends them) are marked as such.
    stack.publish_simulated(ASSET, "180.00", "180.06")
    expect(page.get_by_test_id("bid")).to_have_text("180.00")
    expect(page.get_by_test_id("badge-simulated")).to_have_text("Simulated")
    expect(page.get_by_test_id("badge-stale")).to_be_hidden()

    # A quantity finer than the instrument's step is refused before anything is sent.
    fill_ticket(page, "buy", "0.001", 5)
    page.get_by_role("button", name="Buy SOL/USDC").click()
    expect(page.get_by_test_id("qty-error")).to_have_text(
        "Quantities go in steps of 0.01 SOL: use at most 2 decimals."
    )
    expect(page.get_by_test_id("ticket-error")).to_be_hidden()

    # Too big for the balance: the preview warns, and the engine's refusal is shown in words.
    fill_ticket(page, "buy", "100", 1)
    expect(page.get_by_test_id("ticket-note")).to_have_text(
        "Not enough free balance for this margin: lower the quantity or raise the leverage."
    )
    stack.publish_simulated(ASSET, "180.02", "180.08")  # fresh, so the balance is what fails
    expect(page.get_by_test_id("ask")).to_have_text("180.08")
    page.get_by_role("button", name="Buy SOL/USDC").click()
    expect(page.get_by_test_id("ticket-error")).to_have_text(
        "Order refused: margin $18,008.00 exceeds the free balance $5,000.00. "
        "Lower the quantity or raise the leverage."
    )
    shot("refused-and-simulated")

    # No quote for longer than the engine accepts: the badge says so, and Buy waits for a
    # fresh price, saying why (the API's own refusal is tested with the API).
    stale = page.get_by_test_id("badge-stale")
    expect(stale).to_be_visible(timeout=(MAX_PRICE_AGE_S + 10) * 1000)
    expect(stale).to_have_text(re.compile(r"Stale \d+ s"))
    expect(stale).to_have_attribute("title", re.compile(r"No quote for \d+ s"))
    fill_ticket(page, "buy", "1", 5)
    expect(page.get_by_role("button", name="Buy SOL/USDC")).to_be_disabled()
    expect(page.get_by_test_id("ticket-blocked")).to_have_text(
        re.compile(r"^No fresh SOL/USDC price: the last arrived \d+ s ago \(orders need one")
    )
    expect(page.get_by_test_id("open-order")).to_have_count(0)
    shot("stale-price")

    # The session ends (cookie gone): the next call answers 401 and the page asks to sign in.
    stack.publish_simulated(ASSET, "180.04", "180.10")
    expect(page.get_by_role("button", name="Buy SOL/USDC")).to_be_enabled()
    page.context.clear_cookies()
    page.get_by_role("button", name="Buy SOL/USDC").click()
    expect(page.get_by_role("heading", name="Sign in to TradePro")).to_be_visible()
    expect(page.get_by_test_id("signin-error")).to_have_text(
        "Your session has ended: sign in again."
    )
    expect(page.get_by_test_id("order-ticket")).to_be_hidden()
    shot("session-ended")
