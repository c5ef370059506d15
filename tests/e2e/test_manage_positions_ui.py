"""Managing an open position in the browser: its stop-loss line is dragged on the chart
(with a mouse on a desktop, a finger on a phone), the change is confirmed with the new
risk and reward in dollars and reaches the engine (the API says so); a level the engine
refuses is refused in words; half of it is closed from its row (the rest stays open, the
closed part is in the history); and "Close all" says how many it closes. Against the real
stack, at 1440x900 and on a 390x844 phone."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import APIResponse, Locator, Page, Route, expect

from tests.support.e2e_pages import contract, new_email, pick, sign_in, usd
from tests.support.e2e_stack import Stack, wait_until
from tradepro.domain.orders import Side

pytestmark = pytest.mark.integration

SCREENS = pytest.mark.parametrize("page", ["desktop", "phone"], indirect=True)
ASSET = "BTC_USDC"
QTY_LOTS = 1_000  # 0.01 BTC
OPEN_TICKS = 950_100  # the ask, 95,010.0

Shot = Callable[[str], Path]


def api(page: Page, stack: Stack, path: str, body: dict[str, Any] | None = None) -> Any:
    """The API with the page's own session (as another tab of the same user)."""
    url = f"{stack.base_url}/api/v1/{path}"
    if body is None:
        answer = page.request.get(url)
    else:
        answer = page.request.post(url, data=body, headers={"Origin": stack.base_url})
    assert answer.ok, answer.text()
    return answer.json()


def long_pnl(qty: int, close: int) -> int:
    """The engine's PnL of a long from 95,010.0 (cents, half to even: price x qty is in
    10^-6 USD, 10^-4 cents)."""
    return round(Fraction((close - OPEN_TICKS) * qty, 10**4))


def percent(part: int, whole: int) -> str:
    """``part / whole`` as the page writes a percentage: hundredths, half to even."""
    hundredths = round(Fraction(part * 10_000, whole))
    sign = "-" if hundredths < 0 else "+" if hundredths > 0 else ""
    return f"{sign}{abs(hundredths) // 100}.{abs(hundredths) % 100:02d}\u00a0%"


def fits_the_screen(page: Page) -> None:
    screen = page.viewport_size
    assert screen is not None
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= screen["width"], f"the page is {width} px wide on a {screen['width']} px screen"


def find_line(page: Page, chart: Locator, kind: str) -> tuple[float, float]:
    """Where on the screen the pointer takes the ``kind`` line (the chart marks the line under
    a mouse pointer): scanned from the top of the chart down, as a person would look."""
    box = chart.bounding_box()
    assert box is not None
    x = box["x"] + box["width"] * 0.4
    y = box["y"] + 2
    while y < box["y"] + box["height"] - 2:
        page.mouse.move(x, y)
        if chart.get_attribute("data-grab") == kind:
            return x, y
        y += 3
    raise AssertionError(f"no {kind} line on the chart")


def touch_drag(page: Page, x: float, y: float, to_y: float) -> None:
    """A finger on (x, y), moved to (x, to_y) in steps, lifted (real touch events)."""
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, at: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": x, "y": at}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", y)
    steps = 8
    for step in range(1, steps + 1):
        touch("touchMove", y + (to_y - y) * step / steps)
    touch("touchEnd", to_y)
    cdp.detach()


@SCREENS
def test_a_stop_loss_is_dragged_on_the_chart_then_half_the_position_is_closed(
    page: Page, stack: Stack, shot: Shot
) -> None:
    btc = contract(ASSET)
    stack.quote(ASSET, "95000.0", "95010.0")
    wait_until(lambda: stack.candles(ASSET), 15, "the poller's first candle")
    sign_in(page, stack, new_email())
    pick(page, ASSET)
    expect(page.get_by_test_id("bid")).to_have_text("95,000.0")
    opened = api(
        page, stack, "trade/create-order",
        {"asset": ASSET, "side": "buy", "qty": "0.01", "leverage": 10,
         "takeProfit": "96000", "stopLoss": "94000"},
    )  # fmt: skip
    row = page.get_by_test_id("open-order")
    expect(row).to_have_count(1)

    # The row: opened time, return on margin and price move, distance to the liquidation.
    margin = btc.margin(OPEN_TICKS, QTY_LOTS, 10)
    liquidation = btc.liquidation_price(Side.BUY, OPEN_TICKS, QTY_LOTS, margin)
    pnl = long_pnl(QTY_LOTS, 950_000)  # -$1.00 at the bid
    notional = OPEN_TICKS * QTY_LOTS // 10_000  # cents: 950,100 ticks x 0.01 BTC = $950.10
    expect(row.get_by_test_id("returns")).to_have_text(
        f"{percent(pnl, margin)} / {percent(pnl, notional)}"
    )
    away = 950_000 - liquidation
    expect(row.get_by_test_id("liquidation-distance")).to_have_text(
        re.compile(rf"^{away // 10:,}\.{away % 10} \(\d+\.\d\d\u00a0%\)$")
    )
    expect(row.get_by_test_id("opened")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    chart = page.get_by_test_id("chart")
    expect(chart).to_have_attribute("data-lines", "4")
    chart.scroll_into_view_if_needed()
    shot("position-lines-on-the-chart")

    # Drag the stop loss up a fifth of the way to the take profit (about 94,400.0): the
    # dialog asks, with the new risk and reward.
    _, take_profit_y = find_line(page, chart, "takeProfit")
    x, y = find_line(page, chart, "stopLoss")
    to_y = y - (y - take_profit_y) / 5
    if page.viewport_size and page.viewport_size["width"] < 500:
        page.mouse.move(x, take_profit_y - 40)  # the pointer away: a finger does it
        touch_drag(page, x, y, to_y)
    else:
        page.mouse.down()
        for step in range(1, 6):
            page.mouse.move(x, y + (to_y - y) * step / 5)
        page.mouse.up()
    dialog = page.get_by_test_id("manage-dialog")
    expect(dialog).to_be_visible()
    question = page.get_by_test_id("manage-question")
    expect(question).to_have_text(
        re.compile(r"^Move the stop loss of your long 0\.01000 BTC/USDC position from "
                   r"94,000\.0 to 94,[0-9]{3}\.[0-9]\?$")
    )  # fmt: skip
    found = re.search(r"to (94,\d{3}\.\d)\?", question.inner_text())
    assert found
    level = int(found.group(1).replace(",", "").replace(".", ""))
    assert 940_000 < level < 950_000
    risk = -long_pnl(QTY_LOTS, level)
    reward = long_pnl(QTY_LOTS, 960_000)
    expect(page.get_by_test_id("manage-outcome")).to_have_text(
        f"If it closes there: {usd(reward, signed=True)} at the take profit (96,000.0); "
        f"-{usd(risk)} at the stop loss ({found.group(1)})."
    )
    shot("drag-asks-to-confirm")
    page.get_by_test_id("manage-confirm").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_test_id("levels")).to_have_text(f"96,000.0 / {found.group(1)}")
    (position,) = api(page, stack, "trade/get-open-orders")["orders"]
    assert position["orderId"] == opened["orderId"]
    assert position["stopLoss"] == f"{level // 10}.{level % 10}"
    expect(page.get_by_test_id("chart-lines")).to_contain_text(f"stop loss {found.group(1)}")

    # Dropped above the bid, it would close the position at once: said, and only Cancel,
    # which puts the line back where the position has it.
    x, y = find_line(page, chart, "stopLoss")
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(x, y + (take_profit_y + 4 - y) * step / 5)
    page.mouse.up()
    expect(page.get_by_test_id("manage-error")).to_have_text(
        re.compile(
            r"^A long's stop loss must be below the bid \(95,000\.0 now\): there it would "
            r"close the position at once\. Cancel puts the line back\.$"
        )
    )
    expect(page.get_by_test_id("manage-confirm")).to_be_hidden()
    shot("dropped-on-the-wrong-side")
    page.get_by_test_id("manage-cancel").click()
    expect(dialog).to_be_hidden()
    assert find_line(page, chart, "stopLoss")[1] == pytest.approx(y, abs=4)
    (position,) = api(page, stack, "trade/get-open-orders")["orders"]
    assert position["stopLoss"] == f"{level // 10}.{level % 10}"

    # The form: a stop loss above the bid would close it at once; the engine says so.
    row.get_by_test_id("edit-levels").click()
    page.get_by_test_id("manage-stop-loss").fill("95500")
    page.get_by_test_id("manage-save").click()
    expect(page.get_by_test_id("manage-error")).to_have_text(re.compile(r"^Not changed: .*stop"))
    shot("refused-in-words")
    # Corrected, it previews the new loss at the stop and is saved; an empty field clears.
    page.get_by_test_id("manage-stop-loss").fill("94200")
    page.get_by_test_id("manage-take-profit").fill("")
    expect(page.get_by_test_id("manage-outcome")).to_have_text(
        f"If it closes there: no take profit; -{usd(-long_pnl(QTY_LOTS, 942_000))} at the stop "
        "loss (94,200.0)."
    )
    page.get_by_test_id("manage-save").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_test_id("levels")).to_have_text("— / 94,200.0")
    (position,) = api(page, stack, "trade/get-open-orders")["orders"]
    assert (position["takeProfit"], position["stopLoss"]) == (None, "94200.0")

    # Half of it: what closes and what stays is said first; the rest stays open.
    row.get_by_test_id("close-part").click()
    page.get_by_test_id("close-50").click()
    half = long_pnl(500, 950_000)
    expect(page.get_by_test_id("close-preview")).to_have_text(
        f"Closes 0.00500 BTC at about 95,000.0 (PnL about {usd(half, signed=True)} before "
        "commission); 0.00500 BTC stays open."
    )
    fits_the_screen(page)
    shot("half-close-preview")
    closes: list[str] = []
    page.on(
        "request",
        lambda request: closes.append(request.url) if "/trade/close-order" in request.url else None,
    )
    page.get_by_test_id("manage-close-part").dblclick()  # an impatient double click closes once
    expect(dialog).to_be_hidden()
    expect(row.get_by_test_id("qty")).to_have_text("0.00500")
    closed = page.get_by_test_id("closed-order")
    expect(closed).to_have_count(1)
    expect(closed.locator("td").nth(3)).to_have_text("0.00500")
    expect(
        page.get_by_test_id("toast").filter(has_text="Closed part of BTC/USDC long")
    ).to_contain_text("0.00500 stays open.")
    (position,) = api(page, stack, "trade/get-open-orders")["orders"]
    assert position["qty"] == "0.00500"
    assert len(closes) == 1
    (trade,) = api(page, stack, "trade/get-close-orders")["orders"]
    assert (trade["qty"], trade["orderId"]) == ("0.00500", opened["orderId"])
    fits_the_screen(page)
    shot("half-closed")

    # Close all: it says how many.
    page.get_by_test_id("close-all").click()
    expect(page.get_by_test_id("manage-question")).to_have_text(
        "Close your 1 position at the market price now?"
    )
    shot("close-all-asks")
    page.get_by_test_id("confirm-close-all").click()
    expect(page.get_by_test_id("open-order")).to_have_count(0)
    expect(page.get_by_test_id("closed-order")).to_have_count(2)
    expect(page.get_by_test_id("close-all")).to_be_hidden()
    assert api(page, stack, "trade/get-open-orders")["orders"] == []


@pytest.fixture
def commission_stack(
    tmp_path: Path,
    redis_url: str,
    bus_namespace: str,
    postgres_url: str,
) -> Iterator[Stack]:
    """The real stack with a commission of 5 basis points on every instrument."""
    running = Stack(tmp_path, redis_url, bus_namespace, postgres_url)
    running.env["COMMISSION_BPS"] = "5"
    try:
        running.start()
        yield running
    finally:
        running.close()


def test_a_trailing_stop_follows_the_bid_then_fires_and_close_all_takes_one_market(
    page: Page, commission_stack: Stack, shot: Shot
) -> None:
    stack = commission_stack
    frames: list[str] = []  # what the WebSocket server sends the page
    page.on(
        "websocket",
        lambda socket: socket.on("framereceived", lambda frame: frames.append(str(frame))),
    )
    stack.quote(ASSET, "95000.0", "95010.0")
    wait_until(lambda: stack.candles(ASSET), 15, "the poller's first candle")
    sign_in(page, stack, new_email())
    pick(page, ASSET)
    expect(page.get_by_test_id("bid")).to_have_text("95,000.0")
    api(
        page, stack, "trade/create-order",
        {"asset": ASSET, "side": "buy", "qty": "0.01", "leverage": 10, "trailingStop": "500"},
    )  # fmt: skip
    row = page.get_by_test_id("open-order")
    lines = page.get_by_test_id("chart-lines")
    expect(row.get_by_test_id("trailing-level")).to_have_text("trailing 94,500.0")
    # 5 basis points of $950.10 is $0.47505: $0.48, rounded up to the cent.
    expect(row.get_by_test_id("commission")).to_have_text("fee $0.48")
    expect(row.get_by_test_id("margin")).to_have_text("$95.01fee $0.48")
    expect(lines).to_contain_text("trailing stop 94,500.0")
    expect(page.get_by_test_id("chart")).to_have_attribute("data-lines", "3")

    # A new high moves it at once (the page applies the engine's rule to each quote)...
    stack.quote(ASSET, "95300.0", "95310.0")
    expect(row.get_by_test_id("trailing-level")).to_have_text("trailing 94,800.0")
    expect(lines).to_contain_text("trailing stop 94,800.0")
    # ...a fall does not, and the engine has the same level.
    stack.quote(ASSET, "95100.0", "95110.0")
    expect(page.get_by_test_id("bid")).to_have_text("95,100.0")
    expect(row.get_by_test_id("trailing-level")).to_have_text("trailing 94,800.0")
    (position,) = api(page, stack, "trade/get-open-orders")["orders"]
    assert position["trailingStopPrice"] == "94800.0"
    page.get_by_test_id("chart").scroll_into_view_if_needed()
    fits_the_screen(page)
    row.scroll_into_view_if_needed()  # the row's last button is not cut off by its panel
    expect(row.get_by_test_id("close-order")).to_be_in_viewport(ratio=1)
    shot("trailing-stop-line")

    # The bid falls to it: closed by the trailing stop, and told so.
    stack.quote(ASSET, "94790.0", "94800.0")
    expect(page.get_by_test_id("open-order")).to_have_count(0)
    expect(page.get_by_test_id("closed-order").get_by_test_id("reason")).to_have_text(
        "Trailing stop"
    )
    expect(
        page.get_by_test_id("toast").filter(has_text="Trailing stop: BTC/USDC long closed")
    ).to_have_count(1)
    shot("closed-by-the-trailing-stop")
    # The statistics count the commission the trade paid beside its price PnL.
    stats = api(page, stack, "account/stats")
    assert stats["commission"] != "0.00", stats
    expect(page.get_by_test_id("stat-commission")).to_have_text(f"${stats['commission']}")

    # Close all: of every market, or only the chart's.
    stack.quote("ETH_USDC", "3500.00", "3500.50")
    for asset in (ASSET, ASSET, "ETH_USDC"):
        api(
            page, stack, "trade/create-order",
            {"asset": asset, "side": "sell", "qty": "0.01", "leverage": 5},
        )  # fmt: skip
    expect(page.get_by_test_id("open-order")).to_have_count(3)
    page.get_by_test_id("close-all").click()
    expect(page.get_by_test_id("manage-question")).to_have_text(
        "Close your 3 positions at the market price now?"
    )
    only = page.get_by_test_id("confirm-close-asset")
    expect(only).to_have_text("Only the 2 positions in BTC/USDC")
    shot("close-all-or-only-this-market")
    only.click()
    expect(page.get_by_test_id("manage-dialog")).to_be_hidden()
    left = page.get_by_test_id("open-order")
    expect(left).to_have_count(1)
    expect(left).to_have_attribute("data-asset", "ETH_USDC")
    expect(
        page.get_by_test_id("toast").filter(has_text="Closed BTC/USDC positions")
    ).to_contain_text("2 positions closed")
    (position,) = api(page, stack, "trade/get-open-orders")["orders"]
    assert position["asset"] == "ETH_USDC"

    # A position opened while the page's read of the open positions is on its way is not
    # taken for one that closed (the page then looked for its closed trade for 16 s, and
    # showed nothing newer meanwhile).
    held: list[tuple[Route, APIResponse]] = []

    def hold_the_first_read(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append((route, route.fetch()))  # read now, answered later

    page.route("**/api/v1/trade/get-open-orders*", hold_the_first_read)
    api(
        page, stack, "trade/create-order",
        {"asset": "ETH_USDC", "side": "buy", "qty": "0.01", "leverage": 5},
    )  # fmt: skip
    wait_until(lambda: page.evaluate("1") and held, 10, "the page's read after the order")
    (route, stale) = held[0]
    later = api(
        page, stack, "trade/create-order",
        {"asset": "ETH_USDC", "side": "sell", "qty": "0.02", "leverage": 5},
    )["orderId"]  # fmt: skip
    wait_until(
        lambda: page.evaluate("1") and any(later in frame for frame in frames),
        10,
        "the page to hear of the second order",
    )
    route.fulfill(response=stale)  # the read from before the second order
    expect(page.get_by_test_id("open-order")).to_have_count(3, timeout=5_000)
    expect(page.locator(f'[data-testid="open-order"][data-order-id="{later}"]')).to_have_count(1)
    page.unroute("**/api/v1/trade/get-open-orders*")
