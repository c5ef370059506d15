// What the page remembers across reloads (localStorage, this browser only): the asset, the
// ticket's values and the chart interval. Anything read back is checked as if a person had
// typed it; a value that does not pass is dropped, never guessed at (storage can hold
// another version's values, or anything a user put there).

import { parseScaled } from "./money.js";

const ASSET_KEY = "tradepro.asset";
const TICKET_KEY = "tradepro.ticket";
const INTERVAL_KEY = "tradepro.interval";
const MAX_STORED_LENGTH = 20000;
const MAX_SLIPPAGE_BPS = 10000;
export const RISK_DECIMALS = 2;
export const INTERVALS = ["1m", "5m", "15m", "1h"];

/** The text stored under `key`, or null (none, too long, or storage disabled). */
function stored(key) {
  try {
    const text = localStorage.getItem(key);
    return text === null || text.length > MAX_STORED_LENGTH ? null : text;
  } catch {
    return null;
  }
}

function read(key) {
  try {
    return JSON.parse(stored(key) ?? "null");
  } catch {
    return null; // not JSON: nothing remembered
  }
}

function write(key, text) {
  try {
    localStorage.setItem(key, text);
  } catch {
    // storage full or disabled: the page works, it just forgets
  }
}

/** Whether `text` is what the field would accept (empty is "not set" and is kept). */
function fits(text, decimals, { zero = false } = {}) {
  if (typeof text !== "string") return false;
  if (text === "") return true;
  try {
    parseScaled(text, decimals, "saved", { allowZero: zero });
    return true;
  } catch {
    return false;
  }
}

export function isRiskPercent(text) {
  if (!fits(text, RISK_DECIMALS)) return false;
  return text === "" || parseScaled(text, RISK_DECIMALS, "riskPercent") <= 100n * 10n ** BigInt(RISK_DECIMALS);
}

export function isSlippage(text) {
  return typeof text === "string" && (text === "" || (/^[0-9]{1,5}$/.test(text) && Number(text) <= MAX_SLIPPAGE_BPS));
}

/**
 * The ticket as saved: {side, leverage, slippage, riskPercent, perAsset: {SYMBOL: {qty,
 * takeProfit, stopLoss, orderPrice}}}, each value present only if valid for `instruments` (a Map of
 * symbol -> {info}).
 */
export function loadTicket(instruments) {
  const saved = read(TICKET_KEY);
  const kept = { perAsset: {} };
  if (saved === null || typeof saved !== "object") return kept;
  if (saved.side === "buy" || saved.side === "sell") kept.side = saved.side;
  if (Number.isInteger(saved.leverage) && saved.leverage >= 1) kept.leverage = saved.leverage;
  if (isSlippage(saved.slippage)) kept.slippage = saved.slippage;
  if (isRiskPercent(saved.riskPercent)) kept.riskPercent = saved.riskPercent;
  const perAsset = saved.perAsset !== null && typeof saved.perAsset === "object" ? saved.perAsset : {};
  for (const [symbol, { info }] of instruments) {
    const values = perAsset[symbol];
    if (values === null || typeof values !== "object") continue;
    const asset = {};
    if (fits(values.qty, info.qtyDecimals)) asset.qty = values.qty;
    if (fits(values.takeProfit, info.priceDecimals)) asset.takeProfit = values.takeProfit;
    if (fits(values.stopLoss, info.priceDecimals)) asset.stopLoss = values.stopLoss;
    if (fits(values.orderPrice, info.priceDecimals)) asset.orderPrice = values.orderPrice;
    kept.perAsset[symbol] = asset;
  }
  return kept;
}

export function saveTicket(values) {
  write(TICKET_KEY, JSON.stringify(values));
}

/** The saved chart interval, or `fallback` when none (or an unknown one) is saved. */
export function loadInterval(fallback) {
  const saved = read(INTERVAL_KEY);
  return INTERVALS.includes(saved) ? saved : fallback;
}

export function saveInterval(interval) {
  write(INTERVAL_KEY, JSON.stringify(interval));
}

/** The saved asset if it is one of `instruments` (a Map by symbol), else `fallback`. */
export function loadAsset(instruments, fallback) {
  const saved = stored(ASSET_KEY);
  return saved !== null && instruments.has(saved) ? saved : fallback;
}

export function saveAsset(symbol) {
  write(ASSET_KEY, symbol);
}
