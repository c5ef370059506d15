// What the order ticket says when something is wrong, in the words of a trader rather than
// of the code: a number the field cannot take, or the server's refusal of an order. Each
// message belongs to a field (shown next to it) or, with field null, to the whole order.

import { formatScaled } from "./money.js";
import { expiryWords, wrongSideWords as waitingSideWords } from "./order_type.js";

const LABELS = {
  qty: "The quantity",
  leverage: "The leverage",
  takeProfit: "The take profit",
  stopLoss: "The stop loss",
  slippage: "The maximum slippage",
  riskPercent: "The risk",
  orderPrice: "The price",
  limitPrice: "The limit price",
  stopPrice: "The stop price",
  expiresAt: "The expiry",
};

/** The ticket's fields by the names the API and the engine use in their messages. */
const TICKET_FIELDS = Object.keys(LABELS);

const ASKING = {
  qty: "Enter a quantity.",
  limitPrice: "Enter the limit price: the order waits for it.",
  stopPrice: "Enter the stop price: the order waits for it.",
  riskPercent: "Enter the percentage of your equity to risk.",
};

/** "1.5" for a field that has `decimals` places: one step, as the field shows it. */
function step(decimals) {
  return formatScaled(1n, decimals);
}

function places(decimals) {
  if (decimals === 0) return "whole numbers only";
  return `at most ${decimals} decimal${decimals === 1 ? "" : "s"}`;
}

/**
 * An InputError (money.js) as a sentence. `field` is one of TICKET_FIELDS, `decimals` the
 * places it takes, `unit` the base asset for a quantity ("BTC"), `text` what was typed.
 */
export function inputWords(error, { decimals, unit = "", text = "" }) {
  const label = LABELS[error.field] ?? "This value";
  switch (error.code) {
    case "required":
      return ASKING[error.field] ?? `${label} is needed.`;
    case "comma":
      return `Use a dot for decimals: ${text.trim().replace(",", ".")}, not ${text.trim()}.`;
    case "not_number":
      return `${label} must be a plain number, like ${step(decimals)}.`;
    case "negative":
      return `${label} cannot be negative.`;
    case "zero":
      return `${label} must be more than 0.`;
    case "too_precise":
      if (error.field === "qty") {
        return `Quantities go in steps of ${step(decimals)} ${unit}: use ${places(decimals)}.`;
      }
      if (error.field === "riskPercent") return `${label} takes ${places(decimals)}.`;
      return `Prices go in steps of ${step(decimals)}: use ${places(decimals)}.`;
    case "too_large":
      return `${label} is too large.`;
    case "bps":
      return "The maximum slippage is a whole number of basis points, 0 to 10000 (100 basis points are 1 %).";
    case "over_100":
      return "You can risk at most 100 % of your equity.";
    default:
      return `${label} is not valid.`;
  }
}

/** The words of a take profit or stop loss on the wrong side of the entry price (`where`:
 * "95,010.0 now", or "the ask" when the engine found it so). */
export function wrongSideWords(field, side, where) {
  const above =
    (field === "takeProfit" && side === "buy") || (field === "stopLoss" && side === "sell");
  const position = side === "buy" ? "a long" : "a short";
  const level = field === "takeProfit" ? "take profit" : "stop loss";
  return (
    `For ${position}, the ${level} must be ${above ? "above" : "below"} the price ` +
    `it opens at (${where}).`
  );
}

const capitalised = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const sentence = (text) => (/[.!?]$/.test(text) ? text : `${text}.`);

/** The API's problem with an expiry as an InputError code of order_type.js. */
function expiryCode(problem) {
  if (/days ahead/.test(problem)) return "too_far";
  if (/past|future/.test(problem)) return "past";
  return "not_time";
}

/** The 422 validation problem "qty: has more than 2 decimal places" as an InputError code. */
function problemCode(problem) {
  if (/decimal places/.test(problem)) return "too_precise";
  if (/greater than zero|must be positive/.test(problem)) return "zero";
  if (/too large|too long/.test(problem)) return "too_large";
  if (/not a decimal number/.test(problem)) return "not_number";
  if (/negative/.test(problem)) return "negative";
  if (/^required/.test(problem)) return "required";
  return null;
}

/** The words of a rule the engine checks on a limit or stop order (400 invalid_order). */
function pendingRule(message, side, type) {
  const waiting = /^(limitPrice|stopPrice) of a (buy|sell) (limit|stop) must be (above|below) the (ask|bid)$/.exec(message);
  if (waiting !== null) {
    const text = `${waitingSideWords(waiting[2], waiting[3], null)} The price moved: check it and send again.`;
    return { field: waiting[1], text };
  }
  const level = /^(takeProfit|stopLoss) must be (above|below) the (limit|stop|order's) price$/.exec(message);
  if (level !== null) return { field: level[1], text: wrongSideWords(level[1], side, `the ${type} price`) };
  if (/^expiresAt\b/.test(message)) return { field: "expiresAt", text: expiryWords({ code: "past" }) };
  if (/^(limitPrice|stopPrice) is required/.test(message)) {
    return { field: type === "stop" ? "stopPrice" : "limitPrice", text: `Enter the ${type} price: the order waits for it.` };
  }
  return null;
}

/** The words of a rule the engine checks on an order's levels or size (400 invalid_order). */
function engineRule(message, side, asset, type) {
  const pending = pendingRule(message, side, type);
  if (pending !== null) return pending;
  const level = /^(takeProfit|stopLoss) must be (above|below) the open price$/.exec(message);
  if (level !== null) {
    const where = side === "buy" ? "the ask" : "the bid";
    const text = `${wrongSideWords(level[1], side, where)} The price moved: check it and send again.`;
    return { field: level[1], text };
  }
  const leverage = /^leverage must be 1\.\.(\d+)/.exec(message);
  if (leverage !== null) return { field: "leverage", text: `The leverage can be 1x to ${leverage[1]}x on ${asset}.` };
  if (/^qty must be positive$/.test(message)) return { field: "qty", text: "The quantity must be more than 0." };
  return null;
}

/**
 * A refused order (an ApiError from api.js) as {field, text}: `field` is one of
 * TICKET_FIELDS when the refusal is about that field, else null (the whole order).
 * `order` gives the side, the type ("market" when absent), the asset, each field's decimals
 * and unit, and the price age limit.
 */
export function refusalWords(error, order) {
  const { side, type = "market", asset, decimalsOf, unitOf, staleAfterS } = order;
  const general = (text) => ({ field: null, text });
  if (error.status === 422 || error.status === 400) {
    for (const part of error.message.split("; ")) {
      const named = /^([A-Za-z]+)(?:, [A-Za-z]+)*: (.+)$/.exec(part);
      if (named === null) continue;
      const [, field, problem] = named;
      if (field === "leverage") {
        const cap = /1\.\.(\d+)/.exec(problem);
        if (cap !== null) return { field, text: `The leverage can be 1x to ${cap[1]}x on ${asset}.` };
      }
      if (field === "expiresAt") return { field, text: expiryWords({ code: expiryCode(problem) }) };
      if (field === "price") {
        return { field: "slippage", text: "The slippage guard's price was refused: send again." };
      }
      if (TICKET_FIELDS.includes(field)) {
        const code = problemCode(problem);
        const text =
          code === null
            ? `${LABELS[field]} was refused: ${problem}.`
            : inputWords({ field, code }, { decimals: decimalsOf(field), unit: unitOf(field) });
        return { field, text };
      }
    }
    const rule = engineRule(error.message, side, asset, type);
    if (rule !== null) return rule;
  }
  switch (error.error) {
    case "insufficient_balance":
      return general(`Order refused: ${sentence(error.message)} Lower the quantity or raise the leverage.`);
    case "slippage_exceeded":
      return {
        field: "slippage",
        text: "The price moved beyond your maximum slippage before the order filled, so nothing was opened. Send again, or allow more slippage.",
      };
    case "no_price":
      return general(`Order refused: no ${asset} price has arrived yet. Wait for the first price, then send again.`);
    case "stale_price": {
      const age = /(\d+) ms old/.exec(error.message);
      const old = age === null ? "too old" : `${Math.floor(Number(age[1]) / 1000)} s old`;
      return general(
        `Order refused: the last ${asset} price is ${old}, and orders need one at most ` +
          `${staleAfterS} s old. Wait for a fresh price, then send again.`,
      );
    }
    case "rate_limited":
      return general("Too many orders at once: wait a second, then send again.");
    case "timeout":
      return general(
        "The engine did not answer in time, so the order may or may not have opened: " +
          "check your open positions before sending it again.",
      );
    default: {
      // 4xx: the order was looked at and refused; otherwise it could not be placed.
      const outcome = error.status >= 400 && error.status < 500 ? "Order refused" : "The order was not placed";
      return general(`${outcome}: ${sentence(capitalised(error.message))}`);
    }
  }
}
