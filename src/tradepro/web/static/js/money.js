// Fixed-point numbers and the position formulas, in BigInt: never a JS float for money.
//
// Mirrors tradepro.domain.fixed (parse_scaled / format_scaled) and
// tradepro.domain.positions.Contract exactly. Units: prices are integer ticks
// (10^-priceDecimals USD), quantities integer lots (10^-qtyDecimals), money integer cents.
// Rounding, as on the server: margin rounds UP to the cent; the liquidation price is the
// first tick at which margin + PnL <= maintenance share of the margin (exact, floored at 0
// for a buy); PnL rounds HALF TO EVEN to the cent.

export const USD_DECIMALS = 2;
const BASIS_POINTS = 10000n;
const MAX_TEXT_LENGTH = 40;
const MAX_SCALED = 10n ** 18n;

export function pow10(exponent) {
  return 10n ** BigInt(exponent);
}

/**
 * An input that cannot be taken exactly. `message` is for logs ("qty: is too large");
 * `code` says what is wrong ("required", "comma", "not_number", "negative", "zero",
 * "too_precise", "too_large") so the page can say it in plain words next to the field.
 */
export class InputError extends Error {
  constructor(field, code, problem) {
    super(`${field}: ${problem}`);
    this.field = field;
    this.code = code;
  }
}

/** Floor division for BigInt (BigInt `/` truncates toward zero), like Python's `//`. */
export function floorDiv(numerator, denominator) {
  const quotient = numerator / denominator;
  const inexact = numerator % denominator !== 0n;
  return inexact && (numerator < 0n) !== (denominator < 0n) ? quotient - 1n : quotient;
}

export function ceilDiv(numerator, denominator) {
  return -floorDiv(-numerator, denominator);
}

/** numerator / denominator rounded half to even; the denominator must be positive. */
export function divRoundHalfEven(numerator, denominator) {
  const quotient = floorDiv(numerator, denominator);
  const twice = 2n * (numerator - quotient * denominator);
  if (twice > denominator || (twice === denominator && (quotient & 1n) === 1n)) {
    return quotient + 1n;
  }
  return quotient;
}

/** A positive decimal string as an integer scaled by `decimals` (like parse_scaled). */
export function parseScaled(text, decimals, field, { allowZero = false } = {}) {
  const value = String(text).trim();
  if (value === "") throw new InputError(field, "required", "is required");
  if (value.length > MAX_TEXT_LENGTH) throw new InputError(field, "too_large", "is too long");
  if (value.startsWith("-")) throw new InputError(field, "negative", "must not be negative");
  const match = /^([0-9]+)(?:\.([0-9]+))?$/.exec(value);
  if (match === null) {
    // "1,5": a decimal comma. Refused, not guessed: "1,500" would read as 1500 to others.
    const code = /^[0-9]+,[0-9]+$/.test(value) ? "comma" : "not_number";
    throw new InputError(field, code, `is not a decimal number: ${value}`);
  }
  const significant = (match[2] ?? "").replace(/0+$/, "");
  if (significant.length > decimals) {
    throw new InputError(field, "too_precise", `has more than ${decimals} decimal places`);
  }
  const scaled = BigInt(match[1]) * pow10(decimals) + BigInt(significant.padEnd(decimals, "0") || "0");
  if (scaled === 0n && !allowZero) throw new InputError(field, "zero", "must be greater than zero");
  if (scaled > MAX_SCALED) throw new InputError(field, "too_large", "is too large");
  return scaled;
}

/** A signed decimal string from the server (a PnL, say) as a scaled integer. */
export function parseSigned(text, decimals, field) {
  const value = String(text);
  if (value.startsWith("-")) return -parseScaled(value.slice(1), decimals, field, { allowZero: true });
  return parseScaled(value, decimals, field, { allowZero: true });
}

/** A scaled integer as a decimal string with exactly `decimals` places (format_scaled). */
export function formatScaled(value, decimals) {
  const negative = value < 0n;
  let digits = (negative ? -value : value).toString();
  const sign = negative ? "-" : "";
  if (decimals === 0) return sign + digits;
  digits = digits.padStart(decimals + 1, "0");
  return `${sign}${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

/** One instrument's formulas (tradepro.domain.positions.Contract). */
export class Contract {
  constructor({ priceDecimals, qtyDecimals, maintenanceMarginBps }) {
    this.priceDecimals = priceDecimals;
    this.qtyDecimals = qtyDecimals;
    // price x qty is in 10^-(priceDecimals + qtyDecimals) USD; cents are 10^-2 USD.
    this.scale = priceDecimals + qtyDecimals - USD_DECIMALS;
    this.liquidationNumerator =
      (BASIS_POINTS - BigInt(maintenanceMarginBps)) * pow10(priceDecimals + qtyDecimals);
    this.liquidationDenominator = pow10(USD_DECIMALS + 4); // cents x basis points
  }

  /** Margin in cents = price x qty / leverage, rounded up to the cent. */
  margin(price, qty, leverage) {
    const lev = BigInt(leverage);
    if (this.scale >= 0) return ceilDiv(price * qty, lev * pow10(this.scale));
    return ceilDiv(price * qty * pow10(-this.scale), lev);
  }

  /** Buy: margin call when bid <= this; sell: when ask >= this. */
  liquidationPrice(side, openPrice, qty, margin) {
    const ticks = ceilDiv(this.liquidationNumerator * margin, qty * this.liquidationDenominator);
    if (side === "buy") return openPrice - ticks > 0n ? openPrice - ticks : 0n;
    return openPrice + ticks;
  }

  /** PnL in cents = (close - open) x qty x (+1 buy, -1 sell), rounded half to even. */
  pnl(side, openPrice, qty, closePrice) {
    const move = side === "buy" ? closePrice - openPrice : openPrice - closePrice;
    return this.cents(move * qty);
  }

  /** A price x qty amount (a sum of PnLs) in cents, rounded half to even once. */
  cents(amount) {
    if (this.scale >= 0) return divRoundHalfEven(amount, pow10(this.scale));
    return amount * pow10(-this.scale);
  }

  /**
   * The largest quantity (in lots, so already a whole number of steps) whose loss at
   * `stop`, rounded to the cent as `pnl` rounds it, is at most `budget` cents; 0n when not
   * even one lot fits. `stop` must lie on the losing side of `entry`.
   */
  maxQtyForLoss(side, entry, stop, budget) {
    const move = side === "buy" ? entry - stop : stop - entry; // ticks lost per lot
    if (move <= 0n) throw new RangeError("the stop must be on the losing side of the entry");
    if (budget < 0n) return 0n;
    if (this.scale < 0) return budget / (move * pow10(-this.scale));
    // loss(q) = move * q / 10^scale rounded half to even <= budget
    //   <=> 2 * move * q < (2 * budget + 1) * 10^scale, or equal when budget is even.
    const limit = (2n * budget + 1n) * pow10(this.scale);
    const twice = 2n * move;
    if (budget % 2n === 0n && limit % twice === 0n) return limit / twice;
    return floorDiv(limit - 1n, twice);
  }
}

/** `hundredths` % (a percentage scaled by 100: 150n is 1.5 %) of `cents`, rounded down. */
export function percentOf(cents, hundredths) {
  return floorDiv(cents * hundredths, 100n * 100n);
}

/** A buy is valued and closed at the bid, a sell at the ask. */
export function closePriceFor(side, quote) {
  return side === "buy" ? quote.bid : quote.ask;
}

/** A buy opens at the ask, a sell at the bid. */
export function openPriceFor(side, quote) {
  return side === "buy" ? quote.ask : quote.bid;
}
