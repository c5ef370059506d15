"""The Account dialog: deposit paper money (the day's allowance shown and enforced) after a
confirmation that names the amount, the free balance it makes and what may still be
deposited today; then reset the account after a confirmation that says in words that the
open positions will be closed at market and the pending orders cancelled, and how many; the
balance, positions, pending orders and history follow. On a laptop and a phone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect

from tests.support.e2e_pages import (
    DESKTOP,
    PHONE,
    Device,
    assert_fits,
    new_email,
    on_both_devices,
    sign_in,
)
from tests.support.e2e_stack import Stack

pytestmark = pytest.mark.integration

OPEN_TWO_AND_PLACE_ONE = """async () => {
  const post = async (path, body) => {
    const response = await fetch(path, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await response.text());
    return response.json();
  };
  for (const side of ["buy", "sell"]) {
    await post("/api/v1/trade/create-order",
               { asset: "BTC_USDC", side, qty: "0.01", leverage: 10 });
  }
  await post("/api/v1/trade/create-order", { asset: "BTC_USDC", side: "buy", qty: "0.01",
                                             leverage: 10, type: "limit", limitPrice: "90000.0" });
}"""


def deposit_requests(page: Page) -> list[Request]:
    """Every deposit the page sends from now on."""
    sent: list[Request] = []

    def seen(request: Request) -> None:
        if request.url.endswith("/api/v1/account/deposit"):
            sent.append(request)

    page.on("request", seen)
    return sent


@on_both_devices
def test_a_deposit_is_confirmed_in_words_and_sent_once(
    device: Device, page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    stack.quote("BTC_USDC", "95000.0", "95010.0")
    sign_in(page, stack, new_email())
    expect(page.get_by_test_id("balance")).to_have_text("$5,000.00")
    deposits = deposit_requests(page)
    device.press(page.get_by_test_id("account-open"))
    expect(page.get_by_test_id("deposit-allowance")).to_contain_text("up to $100,000.00 more")
    confirm = page.get_by_test_id("deposit-confirm")
    words = page.get_by_test_id("deposit-confirm-text")

    # Asked first, in words: the amount, the free balance after it, the allowance left.
    page.get_by_test_id("deposit-amount").fill("1,000")
    device.press(page.get_by_test_id("deposit-submit"))
    expect(confirm).to_be_visible()
    expect(words).to_have_text(
        "Add $1,000.00 of paper money to your free balance? It becomes $6,000.00. "
        "You can deposit $99,000.00 more today."
    )
    expect(page.get_by_test_id("deposit-cancel")).to_be_focused()
    expect(page.get_by_test_id("deposit-yes")).to_have_text("Deposit")
    assert_fits(page, device)
    shot(f"deposit-confirmation-{device.width}x{device.height}")

    # Cancel, Escape (which closes the dialog) and a changed amount send nothing.
    device.press(page.get_by_test_id("deposit-cancel"))
    expect(confirm).to_be_hidden()
    device.press(page.get_by_test_id("deposit-submit"))
    expect(confirm).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("account-dialog")).to_be_hidden()
    device.press(page.get_by_test_id("account-open"))
    expect(confirm).to_be_hidden()
    device.press(page.get_by_test_id("deposit-submit"))
    expect(confirm).to_be_visible()
    page.get_by_test_id("deposit-amount").fill("250")
    expect(confirm).to_be_hidden()
    page.wait_for_timeout(300)  # a request sent by mistake would be seen by now
    assert deposits == []
    expect(page.get_by_test_id("balance")).to_have_text("$5,000.00")

    # Confirmed with a double click: exactly one deposit, with an Idempotency-Key.
    page.get_by_test_id("deposit-amount").fill("1,000")
    device.press(page.get_by_test_id("deposit-submit"))
    expect(words).to_contain_text("Add $1,000.00 ")
    page.get_by_test_id("deposit-yes").dblclick()
    expect(page.get_by_test_id("account-done")).to_have_text(
        "$1,000.00 added. Your balance is now $6,000.00."
    )
    expect(confirm).to_be_hidden()
    expect(page.get_by_test_id("deposit-allowance")).to_contain_text("up to $99,000.00 more")
    expect(page.get_by_test_id("balance")).to_have_text("$6,000.00")
    page.wait_for_timeout(300)
    assert len(deposits) == 1, [request.post_data for request in deposits]
    assert deposits[0].method == "POST"
    assert deposits[0].post_data_json == {"amount": "1000.00"}
    assert deposits[0].headers.get("idempotency-key")

    # The next confirmation counts from the new balance and the smaller allowance.
    page.get_by_test_id("deposit-amount").fill("99000")
    device.press(page.get_by_test_id("deposit-submit"))
    expect(words).to_have_text(
        "Add $99,000.00 of paper money to your free balance? It becomes $105,000.00. "
        "That uses the rest of today's deposit allowance."
    )
    device.press(page.get_by_test_id("deposit-cancel"))
    assert len(deposits) == 1


def test_deposit_then_reset_with_a_confirmation(
    page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    stack.quote("BTC_USDC", "95000.0", "95010.0")
    sign_in(page, stack, new_email())
    expect(page.get_by_test_id("balance")).to_have_text("$5,000.00")

    # Deposit: a bad amount is explained, a good one lands and the allowance shrinks.
    page.get_by_test_id("account-open").click()
    dialog = page.get_by_test_id("account-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("deposit-allowance")).to_have_text(
        "You can deposit up to $100,000.00 more today (the allowance renews at midnight UTC)."
    )
    deposits = deposit_requests(page)
    page.get_by_test_id("deposit-amount").fill("12.345")
    page.get_by_test_id("deposit-submit").click()
    expect(page.get_by_test_id("account-error")).to_have_text(
        "The amount has at most two decimals (cents)."
    )
    expect(page.get_by_test_id("deposit-confirm")).to_be_hidden()
    # More than the allowance: the confirmation says it will be refused, and the API does.
    page.get_by_test_id("deposit-amount").fill("100000.01")
    page.get_by_test_id("deposit-submit").click()
    expect(page.get_by_test_id("account-error")).to_be_hidden()
    expect(page.get_by_test_id("deposit-confirm-text")).to_have_text(
        "Add $100,000.01 of paper money to your free balance? "
        "Only $100,000.00 more can be deposited today, so it will be refused."
    )
    page.get_by_test_id("deposit-yes").click()
    expect(page.get_by_test_id("account-error")).to_contain_text(
        "The deposit was not made: deposits are limited to $100,000.00 per day (UTC)"
    )
    expect(page.get_by_test_id("deposit-confirm")).to_be_hidden()
    page.get_by_test_id("deposit-amount").fill("1,000")
    page.get_by_test_id("deposit-submit").click()
    page.get_by_test_id("deposit-yes").click()
    expect(page.get_by_test_id("account-done")).to_have_text(
        "$1,000.00 added. Your balance is now $6,000.00."
    )
    expect(page.get_by_test_id("deposit-allowance")).to_contain_text("up to $99,000.00 more today")
    expect(page.get_by_test_id("balance")).to_have_text("$6,000.00")
    assert len(deposits) == 2
    for device in (DESKTOP, PHONE):
        page.set_viewport_size({"width": device.width, "height": device.height})
        assert_fits(page, device)
        shot(f"deposited-{device.width}x{device.height}")
    page.set_viewport_size({"width": DESKTOP.width, "height": DESKTOP.height})
    page.get_by_test_id("account-close").click()
    expect(dialog).to_be_hidden()

    # Two positions and a pending order, then a reset to 2,500.00: asked first, in words.
    page.evaluate(OPEN_TWO_AND_PLACE_ONE)
    # (made outside the page: it sees them by its next refresh, at most 15 s away)
    expect(page.get_by_test_id("open-order")).to_have_count(2, timeout=20_000)
    expect(page.get_by_test_id("pending-order")).to_have_count(1, timeout=20_000)
    page.get_by_test_id("account-open").click()
    page.get_by_test_id("reset-balance").fill("2500")
    page.get_by_test_id("reset-submit").click()
    confirm = page.get_by_test_id("reset-confirm")
    expect(confirm).to_be_visible()
    expect(page.get_by_test_id("reset-confirm-text")).to_have_text(
        "Reset your account? Your 2 open positions will be closed at the market price and "
        "your 1 pending order will be cancelled, then your balance will be set to $2,500.00. "
        "Your trade history stays. This cannot be undone."
    )
    for device in (DESKTOP, PHONE):
        page.set_viewport_size({"width": device.width, "height": device.height})
        assert_fits(page, device)
        shot(f"reset-confirmation-{device.width}x{device.height}")
    page.set_viewport_size({"width": DESKTOP.width, "height": DESKTOP.height})
    # "Keep my account" keeps everything.
    page.get_by_test_id("reset-cancel").click()
    expect(confirm).to_be_hidden()
    expect(page.get_by_test_id("open-order")).to_have_count(2)
    page.get_by_test_id("reset-submit").click()
    page.get_by_test_id("reset-yes").click()
    expect(page.get_by_test_id("account-done")).to_have_text(
        "Your account was reset: the balance is $2,500.00. "
        "2 positions closed, 1 pending order cancelled."
    )
    page.get_by_test_id("account-close").click()
    expect(page.get_by_test_id("balance")).to_have_text("$2,500.00")
    expect(page.get_by_test_id("open-order")).to_have_count(0)
    expect(page.get_by_test_id("pending-order")).to_have_count(0)
    expect(page.get_by_test_id("closed-order")).to_have_count(2)
    for reason in page.get_by_test_id("closed-order").get_by_test_id("reason").all():
        expect(reason).to_have_text("Account reset")
    for device in (DESKTOP, PHONE):
        page.set_viewport_size({"width": device.width, "height": device.height})
        assert_fits(page, device)
        shot(f"after-reset-{device.width}x{device.height}")
