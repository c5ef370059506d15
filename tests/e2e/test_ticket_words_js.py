"""The order ticket's words (static/js/ticket_words.js): every refusal the API and the engine
can give an order, and every number a field refuses, in a trader's words and in the right
place (next to the field the refusal names, or under the ticket)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

RUN_REFUSALS = """async (cases) => {
  const words = await import("/static/js/ticket_words.js");
  const order = (side) => ({
    side, asset: "BTC_USDC", staleAfterS: 4, unitOf: () => "BTC",
    decimalsOf: (field) => (field === "qty" ? 5 : 1),
  });
  return cases.map(([status, error, message, side]) =>
    words.refusalWords({ status, error, message }, order(side)));
}"""

REFUSALS: list[tuple[tuple[int, str, str, str], dict[str, Any]]] = [
    ((422, "validation_error", "qty: has more than 5 decimal places", "buy"),
     {"field": "qty", "text": "Quantities go in steps of 0.00001 BTC: use at most 5 decimals."}),
    ((422, "validation_error", "leverage: must be 1..50 for BTC_USDC", "buy"),
     {"field": "leverage", "text": "The leverage can be 1x to 50x on BTC_USDC."}),
    ((422, "validation_error", "takeProfit: is not a decimal number: 'x'", "buy"),
     {"field": "takeProfit", "text": "The take profit must be a plain number, like 0.1."}),
    ((422, "validation_error", "price, slippage: give both or neither", "buy"),
     {"field": "slippage", "text": "The slippage guard's price was refused: send again."}),
    ((400, "invalid_order", "takeProfit must be above the open price", "buy"),
     {"field": "takeProfit", "text": "For a long, the take profit must be above the price it "
      "opens at (the ask). The price moved: check it and send again."}),
    ((400, "invalid_order", "stopLoss must be above the open price", "sell"),
     {"field": "stopLoss", "text": "For a short, the stop loss must be above the price it "
      "opens at (the bid). The price moved: check it and send again."}),
    ((400, "invalid_order", "leverage must be 1..100", "buy"),
     {"field": "leverage", "text": "The leverage can be 1x to 100x on BTC_USDC."}),
    ((503, "stale_price", "the price is old", "buy"),
     {"field": None, "text": "Order refused: the last BTC_USDC price is too old, and orders "
      "need one at most 4 s old. Wait for a fresh price, then send again."}),
    ((409, "insufficient_balance", "margin $95,780,400.00 exceeds the free balance $10,000.00",
      "buy"),
     {"field": None, "text": "Order refused: margin $95,780,400.00 exceeds the free balance "
      "$10,000.00. Lower the quantity or raise the leverage."}),
    ((409, "slippage_exceeded", "execution price moved beyond the slippage limit", "buy"),
     {"field": "slippage", "text": "The price moved beyond your maximum slippage before the "
      "order filled, so nothing was opened. Send again, or allow more slippage."}),
    ((503, "stale_price", "last BTC_USDC price is 12798 ms old", "buy"),
     {"field": None, "text": "Order refused: the last BTC_USDC price is 12 s old, and orders "
      "need one at most 4 s old. Wait for a fresh price, then send again."}),
    ((503, "no_price", "no price yet for BTC_USDC", "buy"),
     {"field": None, "text": "Order refused: no BTC_USDC price has arrived yet. Wait for the "
      "first price, then send again."}),
    ((429, "rate_limited", "too many orders", "buy"),
     {"field": None, "text": "Too many orders at once: wait a second, then send again."}),
    ((500, "internal_error", "something went wrong on our side", "buy"),
     {"field": None, "text": "The order was not placed: Something went wrong on our side."}),
]  # fmt: skip


def test_refusals_are_put_in_plain_words_next_to_the_field_they_name(module_page: Page) -> None:
    results = module_page.evaluate(RUN_REFUSALS, [list(case) for case, _ in REFUSALS])
    for (case, want), got in zip(REFUSALS, results, strict=True):
        assert got == want, case
        assert "ms old" not in got["text"] and "qty:" not in got["text"]


RUN_INPUTS = """async (cases) => {
  const words = await import("/static/js/ticket_words.js");
  return cases.map(([field, code, decimals, text]) =>
    words.inputWords({ field, code }, { decimals, unit: "SOL", text }));
}"""


INPUTS = [
    (("qty", "comma", 2, " 1,5 "), "Use a dot for decimals: 1.5, not 1,5."),
    (("qty", "required", 2, ""), "Enter a quantity."),
    (("qty", "too_precise", 2, "0.001"),
     "Quantities go in steps of 0.01 SOL: use at most 2 decimals."),
    (("qty", "too_precise", 0, "1.5"), "Quantities go in steps of 1 SOL: use whole numbers only."),
    (("stopLoss", "too_precise", 1, "1.25"), "Prices go in steps of 0.1: use at most 1 decimal."),
    (("stopLoss", "negative", 1, "-5"), "The stop loss cannot be negative."),
    (("takeProfit", "zero", 1, "0"), "The take profit must be more than 0."),
    (("riskPercent", "over_100", 2, "150"), "You can risk at most 100 % of your equity."),
]  # fmt: skip


def test_a_refused_number_is_said_in_words(module_page: Page) -> None:
    results = module_page.evaluate(RUN_INPUTS, [list(case) for case, _ in INPUTS])
    assert results == [words for _, words in INPUTS]
