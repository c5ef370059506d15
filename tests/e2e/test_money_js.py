"""The browser's money math (static/js/money.js, BigInt) equals the engine's, exactly.

The order ticket shows the margin and liquidation price before an order is sent, and the
positions table the live PnL: random instruments, prices, quantities and leverages are run
through ``Contract`` in Python and through the page's module in Chromium, and must agree
to the cent and the tick. Number parsing must accept and refuse the same inputs.
"""

from __future__ import annotations

import random
from typing import Any

from playwright.sync_api import Page

from tradepro.domain.fixed import InvalidNumberError, format_scaled, parse_scaled
from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import Side
from tradepro.domain.positions import Contract, Position

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


RUN_SIZER = """async (cases) => {
  const money = await import("/static/js/money.js");
  return cases.map((c) => {
    const contract = new money.Contract(c.instrument);
    const budget = money.percentOf(BigInt(c.equity), BigInt(c.hundredths));
    const lots = contract.maxQtyForLoss(c.side, BigInt(c.entry), BigInt(c.stop), budget);
    return { budget: budget.toString(), lots: lots.toString() };
  });
}"""


def sizer_case(rng: random.Random) -> tuple[dict[str, Any], Contract]:
    """An entry, a stop loss on the losing side (often a single tick away, where a lot's loss
    is a fraction of a cent and half-cent ties happen), an equity and a percentage."""
    case, instrument, maintenance_bps = random_case(rng)
    entry = int(case["price"]) + 1
    distance = rng.choice([1, 2, 5, rng.randint(1, entry - 1 if entry > 1 else 1)])
    stop = entry - distance if case["side"] == "buy" else entry + distance
    case |= {
        "entry": str(entry),
        "stop": str(max(stop, 1)),
        "equity": str(rng.choice([0, 1, 99, rng.randint(1, 10**9)])),
        "hundredths": rng.choice([1, 50, 100, 250, 10_000, rng.randint(1, 10_000)]),
    }
    return case, Contract(instrument, maintenance_bps)


def loss_at_stop(contract: Contract, case: dict[str, Any], lots: int) -> int:
    side = Side(case["side"])
    position = Position(1, "o", "u", "X_USDC", side, lots, 1, int(case["entry"]), 0, None, None,
                        0, None, 0)  # fmt: skip
    return -contract.pnl(position, int(case["stop"]))


def test_the_risk_sizer_takes_the_largest_quantity_whose_loss_at_the_stop_fits(
    module_page: Page,
) -> None:
    """For N % of equity, the quantity is the largest whole number of steps whose loss at
    the stop loss, rounded as the engine rounds PnL, is at most N % of equity (rounded down
    to the cent): one step more would lose more."""
    rng = random.Random(20_261_204)
    drawn = [sizer_case(rng) for _ in range(CASES)]
    drawn = [(case, contract) for case, contract in drawn if case["entry"] != case["stop"]]
    results = module_page.evaluate(RUN_SIZER, [case for case, _ in drawn])
    wrong = []
    for (case, contract), result in zip(drawn, results, strict=True):
        budget = int(case["equity"]) * case["hundredths"] // 10_000
        lots = int(result["lots"])
        fits = lots == 0 or loss_at_stop(contract, case, lots) <= budget
        one_more_does_not = loss_at_stop(contract, case, lots + 1) > budget
        if int(result["budget"]) != budget or not (fits and one_more_does_not):
            wrong.append((case, result, budget))
    assert not wrong, wrong[:5]
    assert sum(int(result["lots"]) > 0 for result in results) > CASES // 2  # not all trivial


RUN_INPUT_CODES = """async (texts) => {
  const money = await import("/static/js/money.js");
  return texts.map((text) => {
    try {
      money.parseScaled(text, 2, "qty");
      return "ok";
    } catch (error) {
      return error.code;
    }
  });
}"""


def test_each_refused_number_says_what_is_wrong_with_it(module_page: Page) -> None:
    """The ticket words its errors from these codes: "1,5" asks for a dot, not a number."""
    texts = ["", "1,5", "12,50", "1,500,000", "abc", "-1", "0", "0.001", "1" * 19, "1" * 41, "1.5"]
    assert module_page.evaluate(RUN_INPUT_CODES, texts) == [
        "required", "comma", "comma", "not_number", "not_number", "negative", "zero",
        "too_precise", "too_large", "too_large", "ok",
    ]  # fmt: skip


RUN_FORMATS = """async () => {
  const format = await import("/static/js/format.js");
  return [
    format.usd(9578040000n), format.usd(-1234n), format.signedUsd(990n),
    format.priceText(950100n, 1), format.priceText(350050n, 2), format.priceText(7n, 0),
    format.axisPrice(95005.7, 1), format.axisPrice(1234567.891, 2), format.axisPrice(-1500, 1),
  ];
}"""


def test_money_and_prices_read_the_same_in_messages_previews_and_on_the_chart_axis(
    module_page: Page,
) -> None:
    """Dollars grouped with 2 decimals; prices grouped with the instrument's decimals, also
    the chart's axis labels (which lightweight-charts gives as numbers: drawing, not money)."""
    assert module_page.evaluate(RUN_FORMATS) == [
        "$95,780,400.00", "-$12.34", "+$9.90",
        "95,010.0", "3,500.50", "7",
        "95,005.7", "1,234,567.89", "-1,500.0",
    ]  # fmt: skip
