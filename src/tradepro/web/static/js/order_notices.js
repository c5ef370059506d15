// Notifications about pending orders: placed, filled, cancelled, expired, amended.
//
// They come from the live feed's `orders` events, from the page's own requests (the user
// pressed the button: told at once), or, when the live feed was down, from a refresh that
// found an order gone (looked up among the open positions and the order history). Each
// happening is told once, whichever source saw it first.

import { groupDigits } from "./format.js";
import { expiryLabel, typeLabel } from "./order_type.js";
import { symbolLabel } from "./symbols.js";
import { toast } from "./toasts.js";

const price = (order) => order.limitPrice ?? order.stopPrice ?? null;

/** "Buy limit 0.01 BTC/USDC at 94,000.0" (no price when the event carries none). */
function named(order) {
  const at = price(order);
  const what = `${typeLabel(order.side, order.type ?? "limit")} ${order.qty} ${symbolLabel(order.asset)}`;
  return at === null ? what : `${what} at ${groupDigits(at)}`;
}

const reserved = (order) => (order.reservedMargin == null ? "" : `$${groupDigits(order.reservedMargin)}`);

/** Why an order was cancelled by the engine rather than by its owner, in words. */
function cancelReason(order) {
  if (order.reason === "insufficient_balance") {
    return "It triggered, but the margin at the fill price was more than the reservation and your free balance together.";
  }
  if (order.reason === "reset") return "Your account was reset.";
  return "";
}

/** The toast of `event` for `order` (a pending order, or for "filled" the position). */
export function noticeFor(event, order) {
  const title = (verb) => `${typeLabel(order.side, order.type ?? "limit")} ${verb}: ${symbolLabel(order.asset)}`;
  switch (event) {
    case "placed": {
      const until = order.expiresAt == null ? "until you cancel it" : `until ${expiryLabel(order.expiresAt)}`;
      const margin = reserved(order);
      return {
        title: title("placed"),
        text: `${named(order)}${margin ? `, ${margin} margin reserved` : ""}, waiting ${until}.`,
        kind: "info",
      };
    }
    case "filled": {
      const opened = order.openPrice == null ? "" : ` at ${groupDigits(order.openPrice)}`;
      const margin = order.margin == null ? "" : `, $${groupDigits(order.margin)} margin locked`;
      return {
        title: title("filled"),
        text: `${order.qty} ${symbolLabel(order.asset)} opened${opened}${margin}: it is now an open position.`,
        kind: "good",
      };
    }
    case "canceled": {
      const why = cancelReason(order);
      const margin = reserved(order);
      const released = margin ? ` ${margin} margin released.` : "";
      return { title: title("cancelled"), text: `${named(order)}.${released}${why ? ` ${why}` : ""}`, kind: why && order.reason !== "reset" ? "bad" : "info" };
    }
    case "expired": {
      const margin = reserved(order);
      return {
        title: title("expired"),
        text: `${named(order)} was not reached in time.${margin ? ` ${margin} margin released.` : ""}`,
        kind: "warn",
      };
    }
    case "amended":
      return { title: title("changed"), text: `${named(order)}, ${reserved(order) || "margin"} reserved.`, kind: "info" };
    default:
      return null;
  }
}

/** What makes two amendments different (an order can be amended many times). */
function version(event, order) {
  if (event !== "amended") return "";
  return [price(order), order.qty, order.takeProfit, order.stopLoss, order.expiresAt].join("|");
}

export class OrderNotices {
  constructor() {
    this.told = new Set();
  }

  /** Tell `event` about `order` unless it was told already; returns whether it was new. */
  tell(event, order) {
    const key = `${event}:${order.orderId}:${version(event, order)}`;
    if (this.told.has(key)) return false;
    this.told.add(key);
    // An order ends once: after one end, another source's word for it is not news.
    if (["filled", "canceled", "expired"].includes(event)) {
      for (const end of ["filled", "canceled", "expired"]) this.told.add(`${end}:${order.orderId}:`);
    }
    const notice = noticeFor(event, order);
    if (notice !== null) toast({ ...notice, reason: `order-${event}` });
    return true;
  }

  /** Whether the end of `orderId` (filled, cancelled, expired) was told. */
  ended(orderId) {
    return this.told.has(`filled:${orderId}:`);
  }
}
