"""The order ticket helps before anything is sent, and the chart shows the positions: errors
in words next to their field, gone once the field changes; a take profit on the wrong side
refused with no request sent; a stop loss beyond the liquidation price warned about; the
loss and profit at the levels; the risk sizer; the server's refusals in the same words;
the ticket and the chart interval kept across a reload; the chart's lines and legend.
Each at 1440x900 and on a 390x844 phone."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect

from tests.support.e2e_pages import contract, fill_ticket, new_email, pick, price, sign_in, usd
from tests.support.e2e_stack import Stack, wait_until
from tradepro.domain.orders import Side
from tradepro.domain.positions import Contract, Position

pytestmark = pytest.mark.integration

SCREENS = pytest.mark.parametrize("page", ["desktop", "phone"], indirect=True)
ASSET = "BTC_USDC"
STARTING_CENTS = 500_000
ASK = 950_100  # 95,010.0 in ticks of 0.1


def position(btc: Contract, qty: int, leverage: int) -> Position:
    margin = btc.margin(ASK, qty, leverage)
    liquidation = btc.liquidation_price(Side.BUY, ASK, qty, margin)
    return Position(1, "", "", ASSET, Side.BUY, qty, leverage, ASK, margin, None, None,
                    liquidation, None, 0)  # fmt: skip


def sized(btc: Contract, stop: int, budget: int) -> int:
    """The largest quantity whose loss at ``stop`` is at most ``budget`` cents (brute force
    from the floor of the exact quotient: the engine rounds PnL half to even)."""
    lots = budget * 10**4 // (ASK - stop)
    while -btc.pnl(position(btc, lots + 1, 100), stop) <= budget:
        lots += 1
    return lots


def fits_the_screen(page: Page) -> None:
    """The ticket and the chart never make the page scroll sideways (with mobile emulation
    the window grows to the content, so the page is compared with the screen's width)."""
    screen = page.viewport_size
    assert screen is not None
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= screen["width"], f"the page is {width} px wide on a {screen['width']} px screen"


def create_requests(page: Page) -> list[Request]:
    """Every create-order request the page sends from now on."""
    sent: list[Request] = []

    def seen(request: Request) -> None:
        if "/trade/create-order" in request.url:
            sent.append(request)

    page.on("request", seen)
    return sent


@SCREENS
def test_the_ticket_checks_warns_sizes_and_the_chart_draws_the_position(
    page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    btc = contract(ASSET)
    stack.quote(ASSET, "95000.0", "95010.0")
    wait_until(lambda: stack.candles(ASSET), 15, "the poller's first candle")
    sign_in(page, stack, new_email())
    pick(page, ASSET)
    creates = create_requests(page)
    expect(page.get_by_test_id("preview-price")).to_have_text("95,010.0")

    # A decimal comma: said in words when the field is left, gone as soon as it changes.
    qty_error = page.get_by_test_id("qty-error")
    page.get_by_test_id("qty").fill("1,5")
    page.get_by_test_id("qty").press("Tab")
    expect(qty_error).to_have_text("Use a dot for decimals: 1.5, not 1,5.")
    shot("decimal-comma")
    page.get_by_test_id("qty").fill("0.01")
    expect(qty_error).to_be_hidden()

    # Finer than the step: one message, once, next to the field; nothing is sent.
    fill_ticket(page, "buy", "0.000001", 100)
    page.get_by_role("button", name="Buy BTC/USDC").click()
    words = "Quantities go in steps of 0.00001 BTC: use at most 5 decimals."
    expect(qty_error).to_have_text(words)
    expect(page.get_by_text(words)).to_have_count(1)
    expect(page.get_by_test_id("ticket-note")).to_be_hidden()
    expect(page.get_by_test_id("ticket-error")).to_be_hidden()
    page.get_by_test_id("qty").fill("0.01")
    expect(qty_error).to_be_hidden()

    # A take profit below the entry of a buy is refused before sending, with the reason.
    page.get_by_test_id("take-profit").fill("94000")
    page.get_by_role("button", name="Buy BTC/USDC").click()
    tp_error = page.get_by_test_id("take-profit-error")
    expect(tp_error).to_have_text(
        "For a long, the take profit must be above the price it opens at (95,010.0 now)."
    )
    shot("take-profit-on-the-wrong-side")
    assert creates == [], "the ticket sent an order it should have refused"
    page.get_by_test_id("take-profit").fill("96000")
    expect(tp_error).to_be_hidden()

    # A stop loss beyond the liquidation price: a warning, not a refusal.
    at_100x = position(btc, 1_000, 100)
    page.get_by_test_id("stop-loss").fill("93000")
    page.get_by_test_id("stop-loss").press("Tab")
    warning = page.get_by_test_id("stop-loss-warning")
    expect(warning).to_have_text(
        "This stop loss can never fire: a margin call would close the position first, "
        f"at {price(at_100x.liquidation_price, ASSET)}."
    )
    expect(page.get_by_test_id("preview-risk")).to_contain_text("at the margin call")
    expect(page.get_by_test_id("stop-loss-error")).to_be_hidden()
    shot("stop-loss-beyond-liquidation")

    # A stop loss before it: the loss and the profit at the levels, in dollars.
    page.get_by_test_id("stop-loss").fill("94500")
    page.get_by_test_id("stop-loss").press("Tab")
    expect(warning).to_be_hidden()
    loss = -btc.pnl(at_100x, 945_000)
    share = loss * 10_000 // STARTING_CENTS
    expect(page.get_by_test_id("preview-risk")).to_have_text(
        f"{usd(-loss)} (0.{share:02d} % of equity)"
    )
    expect(page.get_by_test_id("preview-reward")).to_have_text(
        usd(btc.pnl(at_100x, 960_000), signed=True)
    )

    # Risk 1 % of equity at that stop: the quantity, rounded down to the step, exactly.
    # (Enter in the sizer's field sizes too, and sends nothing.)
    page.get_by_test_id("risk-percent").fill("1")
    page.get_by_test_id("risk-percent").press("Enter")
    lots = sized(btc, 945_000, STARTING_CENTS // 100)
    qty_text = f"0.{lots:05d}"
    expect(page.get_by_test_id("qty")).to_have_value(qty_text)
    assert creates == []
    page.get_by_test_id("qty").fill("0.01")
    page.get_by_test_id("size-by-risk").click()
    expect(page.get_by_test_id("qty")).to_have_value(qty_text)
    expect(page.get_by_test_id("preview-risk")).to_contain_text(
        usd(btc.pnl(position(btc, lots, 100), 945_000))
    )
    shot("sized-by-risk")

    # A server's refusal that names a field is shown next to it, in the same words (the
    # engine's own answer when the price moved between the check here and its own).
    moved = {"error": "invalid_order", "message": "takeProfit must be above the open price"}
    refuse = "**/api/v1/trade/create-order"
    page.route(refuse, lambda route: route.fulfill(status=400, json=moved))
    page.get_by_role("button", name="Buy BTC/USDC").click()
    expect(tp_error).to_have_text(
        "For a long, the take profit must be above the price it opens at (the ask). "
        "The price moved: check it and send again."
    )
    expect(page.get_by_test_id("ticket-error")).to_be_hidden()
    shot("server-refusal-next-to-its-field")
    page.unroute(refuse)
    page.get_by_test_id("take-profit").fill("96000")
    expect(tp_error).to_be_hidden()

    page.get_by_role("button", name="Buy BTC/USDC").click()
    expect(page.get_by_test_id("ticket-result")).to_contain_text(f"Bought {qty_text} BTC/USDC")
    assert len(creates) == 2  # the refused one above, and this one
    opened = position(btc, lots, 100)

    # The chart: a line at the entry, the take profit, the stop loss and the liquidation.
    chart = page.get_by_test_id("chart")
    expect(chart).to_have_attribute("data-lines", "4")
    expect(page.get_by_test_id("chart-lines")).to_have_text(
        f"Lines: long {qty_text} BTC/USDC: opened at 95,010.0, take profit "
        f"96,000.0, stop loss 94,500.0, liquidation {price(opened.liquidation_price, ASSET)}."
    )
    box = chart.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.get_by_test_id("chart-legend")).to_have_text(
        re.compile(r"^O [\d,]+\.\d  H [\d,]+\.\d  L [\d,]+\.\d  C [\d,]+\.\d$")
    )
    page.get_by_test_id("chart").scroll_into_view_if_needed()
    shot("chart-with-position-lines")
    fits_the_screen(page)

    # The server's refusal, in the same words, with its money grouped; shown once.
    page.get_by_test_id("take-profit").fill("")
    page.get_by_test_id("stop-loss").fill("")
    fill_ticket(page, "buy", "10", 1)
    expect(page.get_by_test_id("ticket-note")).to_have_text(
        "Not enough free balance for this margin: lower the quantity or raise the leverage."
    )
    page.get_by_role("button", name="Buy BTC/USDC").click()
    free = STARTING_CENTS - opened.margin
    expect(page.get_by_test_id("ticket-error")).to_have_text(
        f"Order refused: margin {usd(btc.margin(ASK, 1_000_000, 1))} exceeds the free balance "
        f"{usd(free)}. Lower the quantity or raise the leverage."
    )
    expect(page.get_by_test_id("ticket-note")).to_be_hidden()
    shot("refused-by-the-engine")

    # The position closes: its lines go.
    page.get_by_test_id("open-order").get_by_test_id("close-order").click()
    expect(chart).to_have_attribute("data-lines", "0")
    expect(page.get_by_test_id("chart-lines")).to_be_hidden()

    # Another asset: the messages about this one go.
    pick(page, "ETH_USDC")
    expect(page.get_by_test_id("ticket-result")).to_be_hidden()
    expect(page.get_by_test_id("ticket-error")).to_be_hidden()


@SCREENS
def test_a_reload_keeps_the_ticket_and_the_interval_and_drops_what_is_not_valid(
    page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    stack.quote("ETH_USDC", "3500.00", "3500.50")
    sign_in(page, stack, new_email())
    pick(page, "ETH_USDC")
    fill_ticket(page, "sell", "0.5", 20)
    values = {"take-profit": "3400", "stop-loss": "3600", "slippage": "30", "risk-percent": "2"}
    for test_id, text in values.items():
        page.get_by_test_id(test_id).fill(text)
    page.get_by_test_id("interval-15m").click()
    pick(page, ASSET)  # BTC's ticket is its own
    expect(page.get_by_test_id("qty")).to_have_value("")
    page.get_by_test_id("size-by-risk").click()  # the 2 % are shared, the stop loss is not
    expect(page.get_by_test_id("risk-percent-error")).to_have_text(
        "Set a stop loss first: the sizer picks the quantity that loses this share of your "
        "equity there."
    )
    pick(page, "ETH_USDC")

    page.reload()
    expect(page.get_by_test_id("user-email")).to_be_visible()
    expect(page.get_by_role("combobox", name="Market")).to_have_value("ETH_USDC")
    expect(page.locator("#side-sell")).to_be_checked()
    expect(page.get_by_test_id("qty")).to_have_value("0.5")
    expect(page.get_by_test_id("leverage-value")).to_have_text("20x")
    for test_id, text in values.items():
        expect(page.get_by_test_id(test_id)).to_have_value(text)
    expect(page.get_by_test_id("interval-15m")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("interval-1m")).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("button", name="Sell ETH/USDC")).to_be_visible()
    shot("restored-after-reload")
    fits_the_screen(page)

    # What storage holds is checked as typed input: what does not pass is dropped.
    junk = {
        "side": "up", "leverage": 5000, "slippage": "1e9", "riskPercent": "250",
        "perAsset": {"ETH_USDC": {"qty": "0.123456", "takeProfit": "<b>", "stopLoss": "3600.00"}},
    }  # fmt: skip
    page.evaluate(
        """([ticket, interval]) => {
            localStorage.setItem("tradepro.ticket", ticket);
            localStorage.setItem("tradepro.interval", interval);
            localStorage.setItem("tradepro.asset", "NOPE_USDC");
        }""",
        [json.dumps(junk), json.dumps("2h")],
    )
    page.reload()
    expect(page.get_by_test_id("user-email")).to_be_visible()
    expect(page.get_by_role("combobox", name="Market")).to_have_value(ASSET)  # the first market
    pick(page, "ETH_USDC")
    expect(page.locator("#side-buy")).to_be_checked()
    expect(page.get_by_test_id("leverage-value")).to_have_text("100x")  # the asset's cap
    for test_id in ("qty", "take-profit", "slippage", "risk-percent"):
        expect(page.get_by_test_id(test_id)).to_have_value("")
    expect(page.get_by_test_id("stop-loss")).to_have_value("3600.00")
    expect(page.get_by_test_id("interval-1m")).to_have_attribute("aria-pressed", "true")
    shot("invalid-saved-values-dropped")
