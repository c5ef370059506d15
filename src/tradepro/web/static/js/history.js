// Closed trades: the history table, and one notification per position the engine closed
// (take-profit, stop-loss, margin call), whether the live feed or a refresh found it first.

import { byId } from "./dom.js";
import { groupDigits, reasonLabel, sideLabel, signedUsd } from "./format.js";
import { USD_DECIMALS, parseSigned } from "./money.js";
import { renderClosedOrders } from "./orders.js";
import { toast } from "./toasts.js";

const ENGINE_REASONS = new Set(["take_profit", "stop_loss", "margin_call"]);
const RETRY_MS = [0, 250, 500, 1000, 2000, 4000, 8000];

export class History {
  /** @param call  the API call that handles a 401; @param report  the error banner */
  constructor(call, report) {
    this.call = call;
    this.report = report;
    this.notified = new Set();
    this.stopped = false;
  }

  /** Reload the table; returns its orders, or null when they could not be loaded (said why). */
  async refresh() {
    let body;
    try {
      body = await this.call("/api/v1/trade/get-close-orders?limit=50");
    } catch (error) {
      if (error.status !== 401) this.report("history", `Cannot load your closed trades: ${error.message}`);
      return null;
    }
    this.report("history", null);
    renderClosedOrders(byId("closed-orders"), byId("closed-empty"), body.orders);
    return body.orders;
  }

  /** Reload until the table holds `orderIds` (the engine records a trade a moment after it
   * announces the close), announcing the engine closes among them. */
  async waitFor(orderIds) {
    const pending = new Set(orderIds);
    for (const delay of RETRY_MS) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.stopped) return;
      const orders = await this.refresh();
      if (orders === null) return;
      for (const order of orders.filter((found) => pending.has(found.orderId))) {
        this.announce(order);
        pending.delete(order.orderId);
      }
      if (pending.size === 0) return;
    }
  }

  /** Notify a close by the engine, once per order. */
  announce(order) {
    if (!ENGINE_REASONS.has(order.reason) || this.notified.has(order.orderId)) return;
    this.notified.add(order.orderId);
    const pnl = parseSigned(order.pnl, USD_DECIMALS, "pnl");
    toast({
      title: `${reasonLabel(order.reason)}: ${order.asset} ${sideLabel(order.side).toLowerCase()} closed`,
      text: `${order.qty} ${order.asset} closed at ${groupDigits(order.closePrice)}; PnL ${signedUsd(pnl)}.`,
      kind: order.reason === "take_profit" ? "good" : "bad",
      reason: order.reason,
    });
  }
}

/** Confirm a close the user asked for (`closed`: the close-order answer). */
export function confirmClose(order, closed) {
  const pnl = parseSigned(closed.pnl, USD_DECIMALS, "pnl");
  toast({
    title: `Closed ${order.asset} ${sideLabel(order.side).toLowerCase()}`,
    text: `${order.qty} ${order.asset} at ${groupDigits(closed.closePrice)}; PnL ${signedUsd(pnl)}.`,
    kind: pnl < 0n ? "warn" : "good",
    reason: "user",
  });
}
