// Order types: a market order opens at once; a limit or stop order waits for its price.
//
// The rules the engine applies at placement, in the page's words (pure functions, BigInt
// ticks): a buy limit waits below the ask, a buy stop above it; a sell limit waits above
// the bid, a sell stop below it. A pending order fills at the triggering quote's ask (buy)
// or bid (sell), so a limit may fill better than its price and a stop worse.

import { priceText } from "./format.js";
import { InputError } from "./money.js";

export const ORDER_TYPES = ["market", "limit", "stop"];

/** The API's field for the order's price: "limitPrice", "stopPrice", or null (market). */
export function priceField(type) {
  if (type === "limit") return "limitPrice";
  if (type === "stop") return "stopPrice";
  return null;
}

export function isPending(type) {
  return type === "limit" || type === "stop";
}

/** "Buy limit", "Sell stop", "Buy" (market). */
export function typeLabel(side, type) {
  const verb = side === "buy" ? "Buy" : "Sell";
  return isPending(type) ? `${verb} ${type}` : verb;
}

/** Where the order waits: buy orders watch the ask, sell orders the bid. */
function watched(side) {
  return side === "buy" ? "ask" : "bid";
}

/** Whether a limit waits for a lower price (a buy) or a stop for a lower one (a sell). */
function waitsBelow(side, type) {
  return (side === "buy") === (type === "limit");
}

/** Whether `price` (ticks) is on the waiting side of `quote` ({bid, ask} in ticks). */
export function waits(side, type, price, quote) {
  const market = side === "buy" ? quote.ask : quote.bid;
  return waitsBelow(side, type) ? price < market : price > market;
}

/** What the order does, in one line under its price field. */
export function triggerHint(side, type) {
  const verb = side === "buy" ? "Buys" : "Sells";
  const direction = waitsBelow(side, type) ? "falls" : "rises";
  const beyond = waitsBelow(side, type) ? "or lower" : "or higher";
  const gap =
    type === "stop"
      ? ` In a fast market it can fill ${side === "buy" ? "above" : "below"} this price.`
      : ` It can fill at a better price, never a worse one.`;
  return `${verb} when the ${watched(side)} ${direction} to this price ${beyond}.${gap}`;
}

/**
 * The words for a price on the wrong side of the market (`marketText`: "95,010.0", the ask
 * of a buy or the bid of a sell, or null when the engine found it so).
 */
export function wrongSideWords(side, type, marketText) {
  const name = typeLabel(side, type).toLowerCase();
  const below = waitsBelow(side, type);
  const market = marketText === null ? `the ${watched(side)}` : `the ${watched(side)} (${marketText} now)`;
  const other = type === "limit" ? "stop" : "limit";
  const act = side === "buy" ? "buy" : "sell";
  return (
    `A ${name} must be ${below ? "below" : "above"} ${market}: it waits for the price to ` +
    `${below ? "fall" : "rise"} to it. To ${act} when the price ${below ? "rises" : "falls"} ` +
    `to this level, choose ${other === "limit" ? "Limit" : "Stop"}.`
  );
}

/** The problem with `price` for this order at `quote`, in words, or "" (no quote: ""). */
export function placementProblem(side, type, price, quote, decimals) {
  if (quote === null || waits(side, type, price, quote)) return "";
  const market = side === "buy" ? quote.ask : quote.bid;
  return wrongSideWords(side, type, priceText(market, decimals));
}

// -- expiry ---------------------------------------------------------------------------------

/** The furthest ahead an expiry may lie (the API's limit). */
export const MAX_EXPIRY_DAYS = 366;
const DAY_MS = 86400000;
const pad = (value) => String(value).padStart(2, "0");
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** A moment (ms) as a `datetime-local` input's value in the browser's time zone. */
export function localInputValue(ms) {
  const at = new Date(ms);
  return (
    `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}` +
    `T${pad(at.getHours())}:${pad(at.getMinutes())}`
  );
}

/** "14:05": a moment's local time of day. */
function clockLabel(ms) {
  const at = new Date(ms);
  return `${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

/** "14:05 today", "2026-12-06 09:30": when an order expires, in local time. */
export function expiryLabel(iso, nowMs = Date.now()) {
  if (iso == null) return "Until cancelled";
  // Only an ISO time is read as one (browsers guess a date in almost any text).
  const at = ISO_TIME.test(String(iso)) ? new Date(iso) : new Date(Number.NaN);
  if (Number.isNaN(at.getTime())) return String(iso);
  const clock = clockLabel(at.getTime());
  if (at.toDateString() === new Date(nowMs).toDateString()) return `${clock} today`;
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${clock}`;
}

/**
 * A `datetime-local` value (local time) as an ISO UTC time for the API, or null when empty.
 * Throws InputError("expiresAt", "not_time" | "past" | "too_far") when it cannot be an expiry
 * at `nowMs`.
 */
export function parseExpiry(text, nowMs = Date.now()) {
  const value = String(text).trim();
  if (value === "") return null;
  const match = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.exec(value);
  const at = match === null ? Number.NaN : new Date(value).getTime();
  if (Number.isNaN(at)) throw new InputError("expiresAt", "not_time", `is not a date and time: ${value}`);
  if (at <= nowMs) throw new InputError("expiresAt", "past", "is in the past");
  if (at > nowMs + MAX_EXPIRY_DAYS * DAY_MS) throw new InputError("expiresAt", "too_far", "is too far ahead");
  return new Date(at).toISOString();
}

/** An expiry's problem in words (`nowMs`: the clock the check used). */
export function expiryWords(error, nowMs = Date.now()) {
  if (error.code === "too_far") {
    return (
      `The expiry can be at most ${MAX_EXPIRY_DAYS} days ahead. ` +
      "Leave it empty to keep the order until you cancel it."
    );
  }
  if (error.code === "past") {
    return (
      `The expiry must be in the future (it is ${clockLabel(nowMs)} now). ` +
      "Leave it empty to keep the order until you cancel it."
    );
  }
  return "Pick a date and a time for the expiry, or leave it empty to keep the order until you cancel it.";
}
