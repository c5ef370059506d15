// The figures of an open position that the positions table and the management dialog show,
// in BigInt like every money figure on the page (money.js): what it gains at its take
// profit and loses at its stop loss, its PnL and return on margin in percent, how far the
// price is from its liquidation, and a share of its quantity rounded to the instrument's
// step (one lot).
//
// Percentages are integers in hundredths of a percent (150n is 1.50 %), rounded half to
// even; `percentText` writes them.

import { divRoundHalfEven, formatScaled } from "./money.js";

const HUNDREDTHS = 10000n; // 100 % in hundredths of a percent

/**
 * What the position would make if it closed at `takeProfit` (reward, cents) and at
 * `stopLoss` (risk, cents, a loss as a positive number when the stop is on the losing
 * side), each exactly as the engine computes a PnL. A missing level gives null.
 * `position`: {side, openTicks, qtyLots}.
 */
export function riskReward(contract, position, takeProfit, stopLoss) {
  const at = (level) => (level == null ? null : contract.pnl(position.side, position.openTicks, position.qtyLots, level));
  const reward = at(takeProfit);
  const stop = at(stopLoss);
  return { reward, risk: stop === null ? null : -stop };
}

/** The PnL (cents) as a share of what the position was worth at open, in hundredths of a
 * percent: the price move in the position's favour. */
export function pnlPercent(contract, position, pnl) {
  const notional = contract.cents(position.openTicks * position.qtyLots);
  if (notional <= 0n) return null;
  return divRoundHalfEven(pnl * HUNDREDTHS, notional);
}

/** The PnL (cents) as a share of the margin locked (return on equity), in hundredths of a
 * percent. */
export function roePercent(position, pnl) {
  if (position.marginCents <= 0n) return null;
  return divRoundHalfEven(pnl * HUNDREDTHS, position.marginCents);
}

/**
 * How far the price the position closes at (`mark`, ticks) is from its liquidation price:
 * `ticks` the move left before a margin call (0n when reached) and `percent` that move as
 * a share of the mark, in hundredths of a percent.
 */
export function liquidationDistance(side, mark, liquidation) {
  const room = side === "buy" ? mark - liquidation : liquidation - mark;
  const ticks = room > 0n ? room : 0n;
  const percent = mark > 0n ? divRoundHalfEven(ticks * HUNDREDTHS, mark) : null;
  return { ticks, percent };
}

/**
 * A trailing stop's level after a quote (ticks): a buy's follows the highest bid minus
 * `distance` and only rises, a sell's the lowest ask plus it and only falls (the engine's
 * rule); `known` is the level so far.
 */
export function trailedLevel(side, known, distance, quote) {
  if (side === "buy") {
    const level = quote.bid - distance;
    return level > known ? level : known;
  }
  const level = quote.ask + distance;
  return level < known ? level : known;
}

/** `percent` % of `qtyLots`, rounded down to a whole lot (the instrument's step). */
export function shareOfQty(qtyLots, percent) {
  return (qtyLots * BigInt(percent)) / 100n;
}

/** Hundredths of a percent as "1.50 %", "-12.34 %" (a no-break space before the sign) (a plus sign when `signed`). */
export function percentText(hundredths, { signed = false } = {}) {
  if (hundredths === null) return "—";
  const text = `${formatScaled(hundredths, 2)}\u00a0%`; // a number and its sign never part
  return signed && hundredths > 0n ? `+${text}` : text;
}
