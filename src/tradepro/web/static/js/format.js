// How numbers, sides, reasons and times read on screen. Numbers stay decimal strings.

import { USD_DECIMALS, formatScaled } from "./money.js";

/** "1234567.50" -> "1,234,567.50" (on the string: no float round trip). */
export function groupDigits(text) {
  const negative = text.startsWith("-");
  const [whole, fraction] = (negative ? text.slice(1) : text).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}${grouped}${fraction === undefined ? "" : `.${fraction}`}`;
}

/** Cents as "$1,234.50" or "-$12.00". */
export function usd(cents) {
  const text = groupDigits(formatScaled(cents < 0n ? -cents : cents, USD_DECIMALS));
  return cents < 0n ? `-$${text}` : `$${text}`;
}

/** A price in ticks as "95,010.0": grouped, with the instrument's decimals. */
export function priceText(ticks, decimals) {
  return groupDigits(formatScaled(ticks, decimals));
}

/**
 * A chart coordinate (a JS number: drawing, not money) as the axis and the legend show it,
 * grouped like every other price on the page.
 */
export function axisPrice(value, decimals) {
  return groupDigits(value.toFixed(decimals));
}

/** Cents as a signed amount: "+$12.34", "-$5.00", "$0.00". */
export function signedUsd(cents) {
  return cents > 0n ? `+${usd(cents)}` : usd(cents);
}

export function tone(cents) {
  if (cents > 0n) return "up";
  if (cents < 0n) return "down";
  return "flat";
}

export function sideLabel(side) {
  return side === "buy" ? "Long" : "Short";
}

const REASONS = {
  take_profit: "Take profit",
  stop_loss: "Stop loss",
  trailing_stop: "Trailing stop",
  margin_call: "Margin call",
  trailing_stop: "Trailing stop",
  user: "Closed by you",
  trailing_stop: "Trailing stop",
  reset: "Account reset",
};

export function reasonLabel(reason) {
  return REASONS[reason] ?? reason;
}

/** An ISO time as local "HH:MM:SS" today, or "YYYY-MM-DD HH:MM" otherwise. */
export function timeLabel(iso) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return iso;
  const pad = (value) => String(value).padStart(2, "0");
  const clock = `${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}`;
  if (moment.toDateString() === new Date().toDateString()) return clock;
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} ${clock.slice(0, 5)}`;
}
