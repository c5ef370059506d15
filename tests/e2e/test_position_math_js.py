"""The positions' figures the page computes (static/js/position_math.js, BigInt) against
the engine's formulas and exact fractions: the dollars a position makes at its take profit
and loses at its stop loss (what a dragged line's confirmation says), its PnL % and ROE %,
its distance to the liquidation price, and a share of its quantity rounded to the step."""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

from playwright.sync_api import Page

from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import Side
from tradepro.domain.positions import Contract, Position

CASES = 2000

RUN = """async (cases) => {
  const money = await import("/static/js/money.js");
  const math = await import("/static/js/position_math.js");
  const text = (value) => (value === null ? null : value.toString());
  return cases.map((c) => {
    const contract = new money.Contract(c.instrument);
    const position = {
      side: c.side,
      openTicks: BigInt(c.open),
      qtyLots: BigInt(c.qty),
      marginCents: BigInt(c.margin),
    };
    const level = (value) => (value === null ? null : BigInt(value));
    const levels = [level(c.takeProfit), level(c.stopLoss)];
    const { reward, risk } = math.riskReward(contract, position, ...levels);
    const pnl = BigInt(c.pnl);
    const away = math.liquidationDistance(c.side, BigInt(c.mark), BigInt(c.liquidation));
    return {
      reward: text(reward),
      risk: text(risk),
      pnlPercent: text(math.pnlPercent(contract, position, pnl)),
      roePercent: text(math.roePercent(position, pnl)),
      awayTicks: text(away.ticks),
      awayPercent: text(away.percent),
      share: text(math.shareOfQty(BigInt(c.qty), c.percent)),
      percentText: math.percentText(BigInt(c.hundredths), { signed: true }),
    };
  });
}"""


def half_even(value: Fraction) -> int:
    return round(value)  # Fraction rounds half to even


def draw(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    price_decimals, qty_decimals = rng.randint(0, 6), rng.randint(0, 8)
    instrument = Instrument("X_USDC", price_decimals, qty_decimals, 1000)
    contract = Contract(instrument, 500)
    side = rng.choice([Side.BUY, Side.SELL])
    open_price = rng.randint(1, 10 ** rng.randint(1, 9))
    qty = rng.randint(1, 10 ** rng.randint(1, 8))
    leverage = rng.randint(1, 100)
    margin = contract.margin(open_price, qty, leverage)
    liquidation = contract.liquidation_price(side, open_price, qty, margin)

    def maybe_level() -> int | None:
        return None if rng.random() < 0.2 else rng.randint(1, 2 * open_price + 1)

    take_profit, stop_loss = maybe_level(), maybe_level()
    mark = rng.randint(1, 2 * open_price + 1)
    position = Position(1, "o", "u", "X_USDC", side, qty, leverage, open_price, margin,
                        take_profit, stop_loss, liquidation, None, 0)  # fmt: skip
    pnl = contract.pnl(position, mark)
    hundredths = rng.randint(-100_000, 100_000)
    case = {
        "instrument": {"priceDecimals": price_decimals, "qtyDecimals": qty_decimals,
                       "maintenanceMarginBps": 500},
        "side": side.value, "open": str(open_price), "qty": str(qty), "margin": str(margin),
        "takeProfit": None if take_profit is None else str(take_profit),
        "stopLoss": None if stop_loss is None else str(stop_loss),
        "pnl": str(pnl), "mark": str(mark), "liquidation": str(liquidation),
        "percent": rng.choice([25, 50, 75]), "hundredths": hundredths,
    }  # fmt: skip
    notional = contract.cents(open_price * qty)
    room = max(0, mark - liquidation if side is Side.BUY else liquidation - mark)
    magnitude = abs(hundredths)
    sign = "-" if hundredths < 0 else "+" if hundredths > 0 else ""
    want = {
        "reward": None if take_profit is None else str(contract.pnl(position, take_profit)),
        "risk": None if stop_loss is None else str(-contract.pnl(position, stop_loss)),
        "pnlPercent": None if notional <= 0 else str(half_even(Fraction(pnl * 10_000, notional))),
        "roePercent": str(half_even(Fraction(pnl * 10_000, margin))),
        "awayTicks": str(room),
        "awayPercent": str(half_even(Fraction(room * 10_000, mark))),
        "share": str(qty * case["percent"] // 100),
        "percentText": f"{sign}{magnitude // 100}.{magnitude % 100:02d}\u00a0%",
    }
    return case, want


def test_position_figures_match_the_engine_and_exact_fractions(module_page: Page) -> None:
    rng = random.Random(20_261_205)
    drawn = [draw(rng) for _ in range(CASES)]
    results = module_page.evaluate(RUN, [case for case, _ in drawn])
    mismatches = [
        (case, result, want)
        for (case, want), result in zip(drawn, results, strict=True)
        if result != want
    ]
    assert not mismatches, mismatches[:3]


def test_a_stop_loss_moved_to_break_even_risks_nothing(
    module_page: Page,
) -> None:
    """A long of 0.01 BTC from 95,010.0 (margin $95.01 at 10x): the stop at its entry loses
    $0.00, the take profit at 96,000.0 makes $9.90; half of it is 0.00500 BTC."""
    cases = [
        {"instrument": {"priceDecimals": 1, "qtyDecimals": 5, "maintenanceMarginBps": 500},
         "side": "buy", "open": "950100", "qty": "1000", "margin": "9501",
         "takeProfit": "960000", "stopLoss": "950100", "pnl": str(pnl), "mark": "950000",
         "liquidation": "859840", "percent": 50, "hundredths": 0}
        for pnl in (0, -100, 9501 // 2)
    ]  # fmt: skip
    results = module_page.evaluate(RUN, cases)
    assert [(r["reward"], r["risk"]) for r in results] == [("990", "0")] * 3
    # -$1.00 on $95.01 is -1.0525 %; $47.50 is 49.9947 %
    assert [r["roePercent"] for r in results] == ["0", "-105", "4999"]
    assert results[0]["share"] == "500"
    assert results[0]["awayTicks"] == "90160"
    assert results[0]["percentText"] == "0.00\u00a0%"
