"""Pending orders in the browser: a limit order placed from the ticket shows in the pending
orders table (cards on a phone), as a line on the chart and as reserved order margin; it is
edited (amended) and cancelled (after a confirmation); a limit reached by the feed fills,
says so and becomes an open position; an order that expires says so; and what is wrong
with a limit or stop order is said in words before anything is sent. Against the real
stack, at 1440x900 and on a 390x844 phone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect

from tests.support.e2e_pages import (
    contract,
    fill_ticket,
    new_email,
    pick,
    price,
    sign_in,
    usd,
)
from tests.support.e2e_stack import Stack, wait_until
from tradepro.domain.orders import Side

pytestmark = pytest.mark.integration

SCREENS = pytest.mark.parametrize("page", ["desktop", "phone"], indirect=True)
ASSET = "BTC_USDC"
STARTING_CENTS = 500_000
QTY_LOTS = 1_000  # 0.01 BTC in lots of 0.00001
LEVERAGE = 10

Shot = Callable[[str], Path]


def create_requests(page: Page) -> list[Request]:
    """Every create-order request the page sends from now on."""
    sent: list[Request] = []

    def seen(request: Request) -> None:
        if "/trade/create-order" in request.url:
            sent.append(request)

    page.on("request", seen)
    return sent


def fits_the_screen(page: Page) -> None:
    """Nothing makes the page scroll sideways (the document is no wider than the screen)."""
    screen = page.viewport_size
    assert screen is not None
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= screen["width"], f"the page is {width} px wide on a {screen['width']} px screen"


def open_ticket(page: Page, stack: Stack, kind: str) -> None:
    """Signed in, BTC picked at 95,000.0 / 95,010.0, the ticket on ``kind`` (limit or stop)."""
    stack.quote(ASSET, "95000.0", "95010.0")
    wait_until(lambda: stack.candles(ASSET), 15, "the poller's first candle")
    sign_in(page, stack, new_email())
    pick(page, ASSET)
    expect(page.get_by_test_id("bid")).to_have_text("95,000.0")
    page.get_by_test_id(f"type-{kind}").click()


def place_buy_limit(page: Page, at: str) -> None:
    fill_ticket(page, "buy", "0.01", LEVERAGE)
    page.get_by_test_id("order-price").fill(at)
    page.get_by_role("button", name="Buy limit BTC/USDC").click()
    expect(page.get_by_test_id("ticket-result")).to_contain_text("Placed a buy limit")


def account(page: Page, balance: int, locked: int, reserved: int) -> None:
    expect(page.get_by_test_id("balance")).to_have_text(usd(balance))
    expect(page.get_by_test_id("locked-margin")).to_have_text(usd(locked))
    expect(page.get_by_test_id("order-margin")).to_have_text(usd(reserved))


@SCREENS
def test_a_limit_order_is_placed_drawn_edited_and_cancelled(
    page: Page, stack: Stack, shot: Shot
) -> None:
    btc = contract(ASSET)
    open_ticket(page, stack, "limit")

    # The preview is at the order's price: the margin it reserves, its liquidation price.
    fill_ticket(page, "buy", "0.01", LEVERAGE)
    page.get_by_test_id("order-price").fill("94000")
    page.get_by_test_id("take-profit").fill("97000")
    reserve = btc.margin(940_000, QTY_LOTS, LEVERAGE)
    liquidation = btc.liquidation_price(Side.BUY, 940_000, QTY_LOTS, reserve)
    expect(page.get_by_test_id("preview-price")).to_have_text("94,000.0")
    expect(page.get_by_test_id("preview-margin")).to_have_text(usd(reserve))
    expect(page.get_by_test_id("preview-liquidation")).to_have_text(price(liquidation, ASSET))
    expect(page.get_by_test_id("order-price-hint")).to_have_text(
        "Buys when the ask falls to this price or lower. It can fill at a better price, never "
        "a worse one."
    )
    shot("limit-ticket-preview")
    page.get_by_role("button", name="Buy limit BTC/USDC").click()
    expect(page.get_by_test_id("ticket-result")).to_have_text(
        f"Placed a buy limit for 0.01000 BTC/USDC at 94,000.0: {usd(reserve)} margin "
        "reserved, until you cancel it."
    )

    # In the table, on the chart, in the account bar, and told.
    row = page.get_by_test_id("pending-order")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("pending-kind")).to_have_text("Buy limit")
    expect(row.get_by_test_id("pending-price")).to_have_text("94,000.0")
    expect(row.get_by_test_id("pending-levels")).to_have_text("97,000.0 / —")
    expect(row.get_by_test_id("pending-reserved")).to_have_text(usd(reserve))
    expect(row.get_by_test_id("pending-expires")).to_have_text("Until cancelled")
    expect(row.get_by_test_id("pending-market")).to_have_text("ask 95,010.0")
    account(page, STARTING_CENTS - reserve, 0, reserve)
    expect(page.get_by_test_id("equity")).to_have_text(usd(STARTING_CENTS))
    chart = page.get_by_test_id("chart")
    expect(chart).to_have_attribute("data-pending-lines", "1")
    expect(page.get_by_test_id("chart-lines")).to_have_text(
        "Lines: buy limit 0.01000 BTC/USDC waits at 94,000.0."
    )
    expect(page.get_by_test_id("toast").filter(has_text="Buy limit placed")).to_have_count(1)
    fits_the_screen(page)
    shot("placed-limit-in-the-table-and-on-the-chart")

    # Edit: the dialog checks as the ticket does, previews, and sends what changed.
    row.get_by_test_id("edit-pending").click()
    dialog = page.get_by_test_id("amend-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("amend-price")).to_have_value("94000.0")
    page.get_by_test_id("amend-take-profit").fill("93000")
    page.get_by_test_id("amend-price").fill("93500")
    page.get_by_test_id("amend-save").click()
    expect(page.get_by_test_id("amend-take-profit-error")).to_have_text(
        "For a long, the take profit must be above the price it opens at (93,500.0, the limit "
        "price)."
    )
    page.get_by_test_id("amend-take-profit").fill("97000")
    amended = btc.margin(935_000, QTY_LOTS, LEVERAGE)
    expect(page.get_by_test_id("amend-margin")).to_have_text(usd(amended))
    shot("edit-dialog")
    page.get_by_test_id("amend-save").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_test_id("pending-price")).to_have_text("93,500.0")
    expect(row.get_by_test_id("pending-reserved")).to_have_text(usd(amended))
    account(page, STARTING_CENTS - amended, 0, amended)
    expect(page.get_by_test_id("chart-lines")).to_have_text(
        "Lines: buy limit 0.01000 BTC/USDC waits at 93,500.0."
    )
    expect(page.get_by_test_id("toast").filter(has_text="Buy limit changed")).to_have_count(1)

    # An emptied take profit is cleared; a dialog with nothing changed says so.
    row.get_by_test_id("edit-pending").click()
    page.get_by_test_id("amend-save").click()
    expect(page.get_by_test_id("amend-error")).to_have_text(
        "Nothing has changed: change a field, or keep the order as it is."
    )
    page.get_by_test_id("amend-take-profit").fill("")
    page.get_by_test_id("amend-save").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_test_id("pending-levels")).to_have_text("— / —")

    # Cancel asks first; "Keep it" keeps it.
    row.get_by_test_id("cancel-pending").click()
    expect(row.get_by_test_id("cancel-question")).to_have_text("Cancel this buy limit?")
    fits_the_screen(page)
    shot("cancel-asks-first")
    row.get_by_test_id("keep-pending").click()
    expect(row.get_by_test_id("edit-pending")).to_be_visible()
    expect(row).to_have_count(1)
    row.get_by_test_id("cancel-pending").click()
    row.get_by_test_id("confirm-cancel").click()
    expect(page.get_by_test_id("pending-order")).to_have_count(0)
    expect(page.get_by_test_id("no-pending-orders")).to_be_visible()
    expect(page.get_by_test_id("toast").filter(has_text="Buy limit cancelled")).to_contain_text(
        f"{usd(amended)} margin released."
    )
    account(page, STARTING_CENTS, 0, 0)
    expect(chart).to_have_attribute("data-pending-lines", "0")
    expect(page.get_by_test_id("chart-lines")).to_be_hidden()
    shot("cancelled")


@SCREENS
def test_a_limit_reached_by_the_feed_fills_says_so_and_becomes_a_position(
    page: Page, stack: Stack, shot: Shot
) -> None:
    btc = contract(ASSET)
    open_ticket(page, stack, "limit")
    place_buy_limit(page, "94000")
    expect(page.get_by_test_id("pending-order")).to_have_count(1)
    order_id = page.get_by_test_id("pending-order").get_attribute("data-order-id")
    assert order_id

    # The ask falls through the limit: it fills at the tick's ask, better than its price.
    stack.quote(ASSET, "93980.0", "93990.0")
    filled = page.get_by_test_id("toast").filter(has_text="Buy limit filled")
    expect(filled).to_contain_text("0.01000 BTC/USDC opened at 93,990.0")
    expect(page.get_by_test_id("pending-order")).to_have_count(0)
    position = page.get_by_test_id("open-order")
    expect(position).to_have_count(1)
    expect(position).to_have_attribute("data-order-id", order_id)  # the order's own id
    expect(position.get_by_test_id("open-price")).to_have_text("93,990.0")
    margin = btc.margin(939_900, QTY_LOTS, LEVERAGE)
    account(page, STARTING_CENTS - margin, margin, 0)
    shot("filled-and-opened")


def test_an_order_that_expires_says_so(page: Page, stack: Stack, shot: Shot) -> None:
    open_ticket(page, stack, "limit")
    # Two seconds ahead (the ticket's field takes minutes): placed through the API with the
    # page's session, as another device of the same user would.
    expires = (datetime.now(UTC) + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
    body = {"asset": ASSET, "side": "buy", "qty": "0.01", "leverage": LEVERAGE,
            "type": "limit", "limitPrice": "94000", "expiresAt": expires}  # fmt: skip
    answer = page.request.post(
        f"{stack.base_url}/api/v1/trade/create-order",
        data=body,
        headers={"Origin": stack.base_url},
    )
    assert answer.ok, answer.text()
    expect(page.get_by_test_id("pending-order")).to_have_count(1)
    expect(page.get_by_test_id("pending-expires")).to_have_text(re.compile(r"^\d\d:\d\d today$"))
    expired = page.get_by_test_id("toast").filter(has_text="Buy limit expired")
    expect(expired).to_contain_text("was not reached in time")
    expect(page.get_by_test_id("pending-order")).to_have_count(0)
    account(page, STARTING_CENTS, 0, 0)
    shot("expired")


@SCREENS
def test_the_ticket_says_what_is_wrong_with_a_limit_or_stop_order(
    page: Page, stack: Stack, shot: Shot
) -> None:
    btc = contract(ASSET)
    open_ticket(page, stack, "limit")
    creates = create_requests(page)
    fill_ticket(page, "buy", "0.01", LEVERAGE)
    submit = page.get_by_role("button", name="Buy limit BTC/USDC")
    price_error = page.get_by_test_id("order-price-error")

    submit.click()  # no price
    expect(price_error).to_have_text("Enter the limit price: the order waits for it.")

    page.get_by_test_id("order-price").fill("96000")  # a buy limit above the ask
    submit.click()
    expect(price_error).to_have_text(
        "A buy limit must be below the ask (95,010.0 now): it waits for the price to fall to "
        "it. To buy when the price rises to this level, choose Stop."
    )
    shot("limit-on-the-wrong-side")

    page.get_by_test_id("order-price").fill("94000.05")
    page.get_by_test_id("order-price").press("Tab")
    expect(price_error).to_have_text("Prices go in steps of 0.1: use at most 1 decimal.")
    page.get_by_test_id("order-price").fill("94000")
    expect(price_error).to_be_hidden()

    page.get_by_test_id("expires-at").fill("2020-01-01T10:00")
    submit.click()
    expect(page.get_by_test_id("expires-at-error")).to_have_text(
        re.compile(
            r"^The expiry must be in the future \(it is \d\d:\d\d now\)\. Leave it empty to "
            r"keep the order until you cancel it\.$"
        )
    )
    shot("expiry-in-the-past")
    page.get_by_test_id("expires-at").fill("")

    # A sell stop must wait below the bid.
    page.get_by_text("Sell / Short").click()
    page.get_by_test_id("type-stop").click()
    page.get_by_test_id("order-price").fill("95500")
    page.get_by_role("button", name="Sell stop BTC/USDC").click()
    expect(price_error).to_have_text(
        "A sell stop must be below the bid (95,000.0 now): it waits for the price to fall to "
        "it. To sell when the price rises to this level, choose Limit."
    )
    assert creates == [], "the ticket sent an order it should have refused"

    # The engine's refusal: the reservation is more than the free balance.
    page.get_by_test_id("order-price").fill("94000")
    page.get_by_label("Quantity").fill("10")
    page.get_by_label("Leverage").fill("1")
    page.get_by_role("button", name="Sell stop BTC/USDC").click()
    reserve = btc.margin(940_000, 1_000_000, 1)
    expect(page.get_by_test_id("ticket-error")).to_have_text(
        re.compile(rf"^Order refused: .*{re.escape(usd(reserve))}.* Lower the quantity")
    )
    expect(page.get_by_test_id("pending-order")).to_have_count(0)
    fits_the_screen(page)
    shot("refused-by-the-engine")


def test_without_the_chart_library_a_stop_order_is_placed_listed_and_cancelled(
    page: Page, stack: Stack, shot: Shot
) -> None:
    # As on a machine without npm: no chart, the lines are still listed in words.
    page.route("**/static/vendor/**", lambda route: route.fulfill(status=404, body="missing"))
    open_ticket(page, stack, "stop")
    expect(page.get_by_test_id("chart")).to_have_attribute("data-chart", "missing")
    fill_ticket(page, "sell", "0.01", LEVERAGE)
    page.get_by_test_id("order-price").fill("94500")
    page.get_by_role("button", name="Sell stop BTC/USDC").click()
    row = page.get_by_test_id("pending-order")
    expect(row.get_by_test_id("pending-kind")).to_have_text("Sell stop")
    expect(row.get_by_test_id("pending-market")).to_have_text("bid 95,000.0")
    expect(page.get_by_test_id("chart-lines")).to_have_text(
        "Lines: sell stop 0.01000 BTC/USDC waits at 94,500.0."
    )
    shot("stop-order-without-the-chart")
    row.get_by_test_id("cancel-pending").click()
    row.get_by_test_id("confirm-cancel").click()
    expect(page.get_by_test_id("pending-order")).to_have_count(0)
    expect(page.get_by_test_id("chart-lines")).to_be_hidden()


def test_what_happened_while_the_live_feed_was_down_is_told_at_the_next_refresh(
    page: Page, stack: Stack, shot: Shot
) -> None:
    open_ticket(page, stack, "limit")
    place_buy_limit(page, "94000")
    expires = (datetime.now(UTC) + timedelta(seconds=4)).isoformat().replace("+00:00", "Z")
    body = {"asset": ASSET, "side": "sell", "qty": "0.01", "leverage": LEVERAGE,
            "type": "limit", "limitPrice": "99000", "expiresAt": expires}  # fmt: skip
    answer = page.request.post(
        f"{stack.base_url}/api/v1/trade/create-order", data=body, headers={"Origin": stack.base_url}
    )
    assert answer.ok, answer.text()
    expect(page.get_by_test_id("pending-order")).to_have_count(2)

    # The page's live connection goes; the engine fills one order and expires the other.
    stack.services["ws"].stop()
    expect(page.get_by_test_id("badge-connection")).to_have_text("Offline")
    stack.quote(ASSET, "93980.0", "93990.0")

    # Found at the refreshes from the API: the fill among the open positions (same id),
    # the expiry in the order history.
    filled = page.get_by_test_id("toast").filter(has_text="Buy limit filled")
    expect(filled).to_contain_text("opened at 93,990.0")
    expired = page.get_by_test_id("toast").filter(has_text="Sell limit expired")
    expect(expired).to_contain_text("Sell limit 0.01000 BTC/USDC at 99,000.0 was not reached")
    expect(page.get_by_test_id("pending-order")).to_have_count(0)
    expect(page.get_by_test_id("open-order")).to_have_count(1)
    expect(filled).to_have_count(1)
    expect(expired).to_have_count(1)
    shot("told-after-the-live-feed-was-down")
