"""The browser's money math (static/js/money.js, BigInt) equals the engine's, exactly.

The order ticket shows the margin and liquidation price before an order is sent, and the
positions table the live PnL: random instruments, prices, quantities and leverages are run
through ``Contract`` in Python and through the page's module in Chromium, and must agree
to the cent and the tick. Number parsing must accept and refuse the same inputs.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from tradepro.domain.fixed import InvalidNumberError, format_scaled, parse_scaled
from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import Side
from tradepro.domain.positions import Contract, Position
from tradepro.web.serve import STATIC_DIR

ORIGIN = "http://tradepro.test"
CASES = 3000

RUN_CASES = """async (cases) => {
  const money = await import("/static/js/money.js");
  return cases.map((c) => {
    const contract = new money.Contract(c.instrument);
    const [price, qty, close] = [BigInt(c.price), BigInt(c.qty), BigInt(c.close)];
    const margin = contract.margin(price, qty, c.leverage);
    return {
      margin: margin.toString(),
      liquidation: contract.liquidationPrice(c.side, price, qty, margin).toString(),
      pnl: contract.pnl(c.side, price, qty, close).toString(),
      cents: contract.cents(BigInt(c.amount)).toString(),
    };
  });
}"""

RUN_PARSES = """async (cases) => {
  const money = await import("/static/js/money.js");
  return cases.map(([text, decimals]) => {
    try {
      return money.formatScaled(money.parseScaled(text, decimals, "qty"), decimals);
    } catch (error) {
      if (!(error instanceof money.InputError)) throw error;
      return null;
    }
  });
}"""


@pytest.fixture
def module_page(page: Page) -> Iterator[Page]:
    """A blank page on an origin that serves the UI's static files from the source tree."""

    def serve(route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN).split("?")[0]
        if path == "/":
            route.fulfill(body="<!doctype html><title>money</title>", content_type="text/html")
            return
        local = (STATIC_DIR / path.removeprefix("/static/")).resolve()
        if not local.is_relative_to(STATIC_DIR) or not local.is_file():
            route.fulfill(status=404, body="not found")
            return
        route.fulfill(body=local.read_bytes(), content_type="text/javascript")

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    yield page


def random_case(rng: random.Random) -> tuple[dict[str, Any], Instrument, int]:
    price_decimals, qty_decimals = rng.randint(0, 8), rng.randint(0, 8)
    maintenance_bps = rng.choice([0, 1, 500, 2500, 9999])
    instrument = Instrument("X_USDC", price_decimals, qty_decimals, 1000)
    price = rng.randint(1, 10 ** rng.randint(1, 12))
    case = {
        "instrument": {
            "priceDecimals": price_decimals,
            "qtyDecimals": qty_decimals,
            "maintenanceMarginBps": maintenance_bps,
        },
        "side": rng.choice(["buy", "sell"]),
        "price": str(price),
        "qty": str(rng.randint(1, 10 ** rng.randint(1, 9))),
        "leverage": rng.randint(1, 1000),
        "close": str(max(1, price + rng.randint(-price, price))),
        "amount": str(rng.randint(-(10**15), 10**15)),  # a sum of PnLs: equity per asset
    }
    return case, instrument, maintenance_bps


def expected(case: dict[str, Any], instrument: Instrument, maintenance_bps: int) -> dict[str, str]:
    contract = Contract(instrument, maintenance_bps)
    side = Side(case["side"])
    price, qty, leverage = int(case["price"]), int(case["qty"]), case["leverage"]
    margin = contract.margin(price, qty, leverage)
    liquidation = contract.liquidation_price(side, price, qty, margin)
    position = Position(1, "o", "u", "X_USDC", side, qty, leverage, price, margin, None, None,
                        liquidation, None, 0)  # fmt: skip
    return {
        "margin": str(margin),
        "liquidation": str(liquidation),
        "pnl": str(contract.pnl(position, int(case["close"]))),
        "cents": str(contract.cents(int(case["amount"]))),
    }


def tie_cases() -> list[tuple[dict[str, Any], Instrument, int]]:
    """PnLs of exactly half a cent (0.5 and 1.5 cents, both signs): half to even."""
    instrument = Instrument("X_USDC", 1, 5, 100)  # price x qty is in 10^-6 USD
    scales = {"priceDecimals": 1, "qtyDecimals": 5, "maintenanceMarginBps": 500}
    return [
        ({"instrument": scales, "side": side, "price": "1000", "qty": "1000", "leverage": 3,
          "close": str(1000 + move), "amount": str(move * 1000)}, instrument, 500)
        for side in ("buy", "sell")
        for move in (5, 15, -5, -15)
    ]  # fmt: skip


def test_margin_liquidation_and_pnl_match_the_engine(module_page: Page) -> None:
    rng = random.Random(20_261_122)
    drawn = [random_case(rng) for _ in range(CASES)] + tie_cases()
    results = module_page.evaluate(RUN_CASES, [case for case, _, _ in drawn])
    wanted = [expected(case, instrument, bps) for case, instrument, bps in drawn]
    mismatches = [
        (case, result, want)
        for (case, _, _), result, want in zip(drawn, results, wanted, strict=True)
        if result != want
    ]
    assert not mismatches, mismatches[:5]
    assert [want["pnl"] for want in wanted[-8:]] == ["0", "2", "0", "-2", "0", "-2", "0", "2"]


def test_decimal_inputs_are_taken_or_refused_like_the_api(module_page: Page) -> None:
    texts = [
        "1", "0.01", "0.010", "1.5", "0", "0.00", "-1", "1e3", "", " ", ".5", "5.", "1.234",
        "00012.3400", "١٢", "1_000", "NaN", "Infinity", "0.001", "1" * 19, "1" * 41, "+1",
    ]  # fmt: skip
    cases = [(text, decimals) for text in texts for decimals in (0, 2, 3, 8)]
    results = module_page.evaluate(RUN_PARSES, cases)
    for (text, decimals), result in zip(cases, results, strict=True):
        try:
            want: str | None = format_scaled(parse_scaled(text, decimals, "qty"), decimals)
        except InvalidNumberError:
            want = None
        assert result == want, (text, decimals)
