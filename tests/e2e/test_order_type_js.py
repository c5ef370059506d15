"""Pending orders' rules and words in the page (static/js/order_type.js, order_notices.js,
ticket_words.js), run in Chromium: which side of the market each limit and stop waits on,
to the tick; what the ticket says about a price on the wrong side, an expiry in the past
and the server's refusals of a limit or stop order; and the notifications' words."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

WAITS = """async () => {
  const { waits } = await import("/static/js/order_type.js");
  const quote = { bid: 950000n, ask: 950100n };
  const rows = [];
  for (const side of ["buy", "sell"]) {
    for (const type of ["limit", "stop"]) {
      const market = side === "buy" ? quote.ask : quote.bid;
      const prices = [market - 1n, market, market + 1n];
      rows.push([side, type, prices.map((price) => waits(side, type, price, quote))]);
    }
  }
  return rows;
}"""


def test_each_order_waits_on_its_side_of_the_market_to_the_tick(module_page: Page) -> None:
    # One tick below, at, and one tick above the price the order watches (ask or bid):
    # the price itself never waits (it would fill at once).
    assert module_page.evaluate(WAITS) == [
        ["buy", "limit", [True, False, False]],
        ["buy", "stop", [False, False, True]],
        ["sell", "limit", [False, False, True]],
        ["sell", "stop", [True, False, False]],
    ]


WORDS = """async () => {
  const rules = await import("/static/js/order_type.js");
  const quote = { bid: 950000n, ask: 950100n };
  return {
    wrong: [["buy", "limit", 960000n], ["buy", "stop", 940000n], ["sell", "limit", 940000n],
            ["sell", "stop", 960000n], ["buy", "limit", 940000n]]
      .map(([side, type, price]) => rules.placementProblem(side, type, price, quote, 1)),
    noQuote: rules.placementProblem("buy", "limit", 960000n, null, 1),
    hints: [["buy", "limit"], ["buy", "stop"], ["sell", "limit"], ["sell", "stop"]]
      .map(([side, type]) => rules.triggerHint(side, type)),
    labels: [["buy", "limit"], ["sell", "stop"], ["buy", "market"]]
      .map(([side, type]) => rules.typeLabel(side, type)),
    fields: ["market", "limit", "stop"].map(rules.priceField),
  };
}"""


def test_a_price_on_the_wrong_side_is_said_with_the_market_and_the_other_type(
    module_page: Page,
) -> None:
    words: dict[str, Any] = module_page.evaluate(WORDS)
    assert words["wrong"] == [
        "A buy limit must be below the ask (95,010.0 now): it waits for the price to fall to "
        "it. To buy when the price rises to this level, choose Stop.",
        "A buy stop must be above the ask (95,010.0 now): it waits for the price to rise to "
        "it. To buy when the price falls to this level, choose Limit.",
        "A sell limit must be above the bid (95,000.0 now): it waits for the price to rise to "
        "it. To sell when the price falls to this level, choose Stop.",
        "A sell stop must be below the bid (95,000.0 now): it waits for the price to fall to "
        "it. To sell when the price rises to this level, choose Limit.",
        "",
    ]
    assert words["noQuote"] == ""  # no price yet: the ticket is blocked and says so
    assert words["hints"] == [
        "Buys when the ask falls to this price or lower. It can fill at a better price, "
        "never a worse one.",
        "Buys when the ask rises to this price or higher. In a fast market it can fill above "
        "this price.",
        "Sells when the bid rises to this price or higher. It can fill at a better price, "
        "never a worse one.",
        "Sells when the bid falls to this price or lower. In a fast market it can fill below "
        "this price.",
    ]
    assert words["labels"] == ["Buy limit", "Sell stop", "Buy"]
    assert words["fields"] == [None, "limitPrice", "stopPrice"]


EXPIRY = """async () => {
  const { parseExpiry, expiryWords, localInputValue } = await import("/static/js/order_type.js");
  const now = new Date(2026, 11, 5, 3, 30).getTime();  // local 2026-12-05 03:30
  const attempt = (text) => {
    try {
      return { iso: parseExpiry(text, now) };
    } catch (error) {
      return { code: error.code, field: error.field, words: expiryWords(error, now) };
    }
  };
  return {
    empty: attempt(""),
    later: attempt("2026-12-05T04:15"),
    laterIso: new Date(2026, 11, 5, 4, 15).toISOString(),
    now: attempt("2026-12-05T03:30"),
    past: attempt("2026-12-04T23:00"),
    garbage: attempt("tomorrow"),
    inAYear: attempt("2027-12-05T03:30"),  // 365 days ahead
    tooFar: attempt("2027-12-06T03:31"),  // 366 days and a minute
    roundTrip: localInputValue(new Date(2026, 11, 5, 4, 15).getTime()),
  };
}"""


def test_an_expiry_is_a_local_time_in_the_future_sent_as_utc(module_page: Page) -> None:
    results: dict[str, Any] = module_page.evaluate(EXPIRY)
    assert results["empty"] == {"iso": None}  # good till cancelled
    assert results["later"] == {"iso": results["laterIso"]}
    past_words = (
        "The expiry must be in the future (it is 03:30 now). Leave it empty to keep the "
        "order until you cancel it."
    )
    assert results["now"] == {"code": "past", "field": "expiresAt", "words": past_words}
    assert results["past"] == {"code": "past", "field": "expiresAt", "words": past_words}
    assert results["garbage"]["code"] == "not_time"
    assert results["garbage"]["words"] == (
        "Pick a date and a time for the expiry, or leave it empty to keep the order until you "
        "cancel it."
    )
    assert results["roundTrip"] == "2026-12-05T04:15"
    assert "iso" in results["inAYear"]
    assert results["tooFar"]["code"] == "too_far"
    assert results["tooFar"]["words"] == (
        "The expiry can be at most 366 days ahead. Leave it empty to keep the order until you "
        "cancel it."
    )


REFUSALS = """async (cases) => {
  const words = await import("/static/js/ticket_words.js");
  const order = (side, type) => ({
    side, type, asset: "BTC/USDC", staleAfterS: 4, unitOf: () => "BTC",
    decimalsOf: (field) => (field === "qty" ? 5 : 1),
  });
  return cases.map(([status, error, message, side, type]) =>
    words.refusalWords({ status, error, message }, order(side, type)));
}"""

REFUSALS_CASES: list[tuple[tuple[int, str, str, str, str], dict[str, Any]]] = [
    ((400, "invalid_order", "limitPrice of a buy limit must be below the ask", "buy", "limit"),
     {"field": "limitPrice", "text": "A buy limit must be below the ask: it waits for the "
      "price to fall to it. To buy when the price rises to this level, choose Stop. The price "
      "moved: check it and send again."}),
    ((400, "invalid_order", "stopPrice of a sell stop must be below the bid", "sell", "stop"),
     {"field": "stopPrice", "text": "A sell stop must be below the bid: it waits for the "
      "price to fall to it. To sell when the price rises to this level, choose Limit. The "
      "price moved: check it and send again."}),
    ((400, "invalid_order", "takeProfit must be above the order's price", "buy", "limit"),
     {"field": "takeProfit", "text": "For a long, the take profit must be above the price it "
      "opens at (the limit price)."}),
    ((400, "invalid_order", "stopLoss must be above the order's price", "sell", "stop"),
     {"field": "stopLoss", "text": "For a short, the stop loss must be above the price it "
      "opens at (the stop price)."}),
    ((422, "validation_error", "limitPrice: has more than 1 decimal places", "buy", "limit"),
     {"field": "limitPrice", "text": "Prices go in steps of 0.1: use at most 1 decimal."}),
    ((422, "validation_error", "stopPrice: is not a decimal number: 'x'", "sell", "stop"),
     {"field": "stopPrice", "text": "The stop price must be a plain number, like 0.1."}),
    ((422, "validation_error", "expiresAt: must be in the future", "buy", "limit"),
     {"field": "expiresAt", "text": "The expiry must be in the future"}),
    ((422, "validation_error", "expiresAt: at most 366 days ahead (omit it: good till "
      "cancelled)", "buy", "limit"),
     {"field": "expiresAt", "text": "The expiry can be at most 366 days ahead."}),
    ((422, "validation_error", "limitPrice: required for a limit order", "buy", "limit"),
     {"field": "limitPrice", "text": "Enter the limit price: the order waits for it."}),
    ((400, "invalid_order", "limitPrice is required for a limit order", "buy", "limit"),
     {"field": "limitPrice", "text": "Enter the limit price: the order waits for it."}),
    ((409, "insufficient_balance", "margin $940.00 exceeds the free balance $100.00",
      "buy", "limit"),
     {"field": None, "text": "Order refused: margin $940.00 exceeds the free balance $100.00. "
      "Lower the quantity or raise the leverage."}),
]  # fmt: skip


@pytest.mark.parametrize(("refusal", "expected"), REFUSALS_CASES)
def test_a_refused_limit_or_stop_order_is_said_next_to_its_field(
    module_page: Page, refusal: tuple[int, str, str, str, str], expected: dict[str, Any]
) -> None:
    [said] = module_page.evaluate(REFUSALS, [list(refusal)])
    assert said["field"] == expected["field"]
    # The expiry's words name the clock of the browser's machine: only their start is fixed.
    assert said["text"].startswith(expected["text"])
    if expected["field"] != "expiresAt":
        assert said["text"] == expected["text"]


NOTICES = """async () => {
  const { noticeFor } = await import("/static/js/order_notices.js");
  const order = {
    orderId: "0193-a", asset: "BTC_USDC", side: "buy", type: "limit", qty: "0.01000",
    leverage: 10, limitPrice: "94000.0", stopPrice: null, reservedMargin: "94.00",
    expiresAt: null,
  };
  const position = { ...order, openPrice: "93990.0", margin: "93.99" };
  return {
    placed: noticeFor("placed", order),
    filled: noticeFor("filled", position),
    canceled: noticeFor("canceled", { ...order, reason: "user" }),
    noBalance: noticeFor("canceled", {
      ...order, type: "stop", stopPrice: "96000.0", limitPrice: null,
      reason: "insufficient_balance",
    }),
    expired: noticeFor("expired", order),
    amended: noticeFor("amended", { ...order, limitPrice: "93500.0", reservedMargin: "93.50" }),
    unknown: noticeFor("something", order),
  };
}"""


def test_each_pending_order_event_has_its_notification(module_page: Page) -> None:
    notes: dict[str, Any] = module_page.evaluate(NOTICES)
    assert notes["placed"] == {
        "title": "Buy limit placed: BTC/USDC",
        "text": "Buy limit 0.01000 BTC/USDC at 94,000.0, $94.00 margin reserved, waiting "
        "until you cancel it.",
        "kind": "info",
    }
    assert notes["filled"] == {
        "title": "Buy limit filled: BTC/USDC",
        "text": "0.01000 BTC/USDC opened at 93,990.0, $93.99 margin locked: it is now an open "
        "position.",
        "kind": "good",
    }
    assert notes["canceled"] == {
        "title": "Buy limit cancelled: BTC/USDC",
        "text": "Buy limit 0.01000 BTC/USDC at 94,000.0. $94.00 margin released.",
        "kind": "info",
    }
    assert notes["noBalance"]["title"] == "Buy stop cancelled: BTC/USDC"
    assert notes["noBalance"]["kind"] == "bad"
    assert notes["noBalance"]["text"].endswith(
        "It triggered, but the margin at the fill price was more than the reservation and "
        "your free balance together."
    )
    assert notes["expired"] == {
        "title": "Buy limit expired: BTC/USDC",
        "text": "Buy limit 0.01000 BTC/USDC at 94,000.0 was not reached in time. $94.00 "
        "margin released.",
        "kind": "warn",
    }
    assert notes["amended"]["text"] == ("Buy limit 0.01000 BTC/USDC at 93,500.0, $93.50 reserved.")
    assert notes["unknown"] is None


HOSTILE = """async () => {
  document.body.innerHTML = `
    <table><thead><tr><th>Asset</th><th>Order</th><th>Qty</th><th>Lev.</th><th>Price</th>
      <th>Market</th><th>TP / SL</th><th>Reserved</th><th>Expires</th><th></th></tr></thead>
      <tbody id="rows"></tbody></table>
    <p id="empty"></p><div id="toasts"></div>`;
  const { PendingOrdersTable, parsePendingOrder } = await import("/static/js/pending.js");
  const { OrderNotices } = await import("/static/js/order_notices.js");
  const { Contract } = await import("/static/js/money.js");
  const info = { symbol: "BTC_USDC", priceDecimals: 1, qtyDecimals: 5, maintenanceMarginBps: 50 };
  const instrument = { info, contract: new Contract(info) };
  const hostile = '<img src=x onerror="window.pwned = 1">';
  const order = {
    orderId: hostile, asset: "BTC_USDC", side: "buy", type: "limit", qty: "0.01000",
    leverage: 10, limitPrice: "94000.0", stopPrice: null, takeProfit: hostile,
    stopLoss: null, reservedMargin: "94.00", expiresAt: hostile, createdAt: hostile,
  };
  const table = new PendingOrdersTable(document.getElementById("rows"),
    document.getElementById("empty"), { edit() {}, cancel() {} });
  table.sync([parsePendingOrder(order, instrument)]);
  new OrderNotices().tell("placed", order);
  await new Promise((resolve) => setTimeout(resolve, 50));
  return {
    images: document.querySelectorAll("img").length,
    pwned: window.pwned === 1,
    levels: document.querySelector("[data-testid=pending-levels]").textContent,
    expires: document.querySelector("[data-testid=pending-expires]").textContent,
    toast: document.querySelector("[data-testid=toast] p").textContent,
  };
}"""


def test_what_an_order_carries_is_shown_as_text_never_as_markup(module_page: Page) -> None:
    # Whatever the server (or someone who got a string into an order) sends, the table and
    # the notification put it on the page as text: no element is made from it, nothing runs.
    shown: dict[str, Any] = module_page.evaluate(HOSTILE)
    assert shown["images"] == 0
    assert shown["pwned"] is False
    assert shown["levels"].startswith("<img src=x")
    assert shown["expires"] == '<img src=x onerror="window.pwned = 1">'
    assert shown["toast"].endswith('waiting until <img src=x onerror="window.pwned = 1">.')
