// The positions tables: open positions (live mark and PnL, a close button) and history.
//
// Open rows are keyed by order id and updated in place on every quote, so a row (and its
// button) is never replaced under the user's pointer.

import { el, setText, show } from "./dom.js";
import { groupDigits, reasonLabel, sideLabel, signedUsd, timeLabel, tone, usd } from "./format.js";
import { USD_DECIMALS, closePriceFor, formatScaled, parseScaled, parseSigned } from "./money.js";

/** An open order from the API with its numbers as scaled BigInts. */
export function parseOpenOrder(order, instrument) {
  const { priceDecimals, qtyDecimals } = instrument.info;
  return {
    ...order,
    qtyLots: parseScaled(order.qty, qtyDecimals, "qty"),
    openTicks: parseScaled(order.openPrice, priceDecimals, "openPrice"),
    marginCents: parseScaled(order.margin, USD_DECIMALS, "margin"),
    restPnl: order.unrealizedPnl == null ? null : parseSigned(order.unrealizedPnl, USD_DECIMALS, "unrealizedPnl"),
  };
}

/** Live PnL in cents at `quote` (exact, as the engine computes it), else the API's figure. */
export function livePnl(order, instrument, quote) {
  if (quote == null) return order.restPnl;
  return instrument.contract.pnl(order.side, order.openTicks, order.qtyLots, closePriceFor(order.side, quote));
}

const price = (text) => (text == null ? "—" : groupDigits(text));

export class OpenOrdersTable {
  constructor(body, empty, onClose) {
    this.body = body;
    this.empty = empty;
    this.onClose = onClose;
    this.rows = new Map();
  }

  /** Make the rows match `orders` (parsed), keeping the rows that stay. */
  sync(orders) {
    const wanted = new Set(orders.map((order) => order.orderId));
    for (const [orderId, row] of this.rows) {
      if (!wanted.has(orderId)) {
        row.node.remove();
        this.rows.delete(orderId);
      }
    }
    for (const order of orders) {
      const row = this.rows.get(order.orderId);
      if (row === undefined) this.rows.set(order.orderId, this.addRow(order));
      else row.order = order;
    }
    show(this.empty, this.rows.size === 0);
  }

  addRow(order) {
    const cell = (text, props = {}) => el("td", { text, ...props });
    const mark = cell("—", { class: "num", "data-testid": "mark" });
    const pnl = cell("—", { class: "num pnl", "data-testid": "pnl" });
    const label = `${sideLabel(order.side).toLowerCase()} ${order.qty} ${order.asset}`;
    const button = el("button", {
      type: "button", class: "ghost small", text: "Close", "data-testid": "close-order",
      "aria-label": `Close the ${label} position`,
    });
    const row = { order, mark, pnl, button, node: null };
    button.addEventListener("click", () => this.onClose(row.order, button));
    const levels = `${price(order.takeProfit)} / ${price(order.stopLoss)}`;
    row.node = el(
      "tr",
      { "data-testid": "open-order", dataset: { orderId: order.orderId, asset: order.asset } },
      cell(order.asset),
      cell(sideLabel(order.side), { class: `side-${order.side}` }),
      cell(order.qty, { class: "num" }),
      cell(`${order.leverage}x`, { class: "num" }),
      cell(price(order.openPrice), { class: "num" }),
      mark,
      cell(price(order.liquidationPrice), { class: "num", "data-testid": "liquidation-price" }),
      cell(levels, { class: "num muted" }),
      cell(usd(order.marginCents), { class: "num" }),
      pnl,
      el("td", { class: "action" }, button),
    );
    this.body.append(row.node);
    return row;
  }

  /** Refresh every row's mark price and PnL; returns the summed PnL in cents. */
  updateLive(instruments, quotes) {
    // Equity rounds once per asset, as the engine does: the exact sum of the positions'
    // PnL (price x qty units) per asset, then half to even to the cent.
    const exact = new Map();
    let total = 0n;
    for (const row of this.rows.values()) {
      const order = row.order;
      const instrument = instruments.get(order.asset);
      const quote = quotes.get(order.asset);
      if (quote != null) {
        const ticks = closePriceFor(order.side, quote);
        setText(row.mark, groupDigits(formatScaled(ticks, instrument.info.priceDecimals)));
        const move = order.side === "buy" ? ticks - order.openTicks : order.openTicks - ticks;
        exact.set(order.asset, (exact.get(order.asset) ?? 0n) + move * order.qtyLots);
      }
      const pnl = instrument ? livePnl(order, instrument, quote) : order.restPnl;
      setText(row.pnl, pnl == null ? "no price" : signedUsd(pnl));
      row.pnl.dataset.tone = pnl == null ? "flat" : tone(pnl);
      if (quote == null) total += pnl ?? 0n;
    }
    for (const [asset, amount] of exact) total += instruments.get(asset).contract.cents(amount);
    return total;
  }
}

export function renderClosedOrders(body, empty, orders) {
  const rows = orders.map((order) => {
    const pnl = parseSigned(order.pnl, USD_DECIMALS, "pnl");
    return el(
      "tr",
      { "data-testid": "closed-order", dataset: { orderId: order.orderId, reason: order.reason } },
      el("td", { text: timeLabel(order.closedAt), title: order.closedAt }),
      el("td", { text: order.asset }),
      el("td", { text: sideLabel(order.side), class: `side-${order.side}` }),
      el("td", { text: order.qty, class: "num" }),
      el("td", { text: `${order.leverage}x`, class: "num" }),
      el("td", { text: groupDigits(order.openPrice), class: "num" }),
      el("td", { text: groupDigits(order.closePrice), class: "num" }),
      el("td", { text: signedUsd(pnl), class: "num pnl", "data-testid": "pnl", dataset: { tone: tone(pnl) } }),
      el("td", { text: reasonLabel(order.reason) + (order.liquidated ? " (liquidated)" : ""), "data-testid": "reason" }),
    );
  });
  body.replaceChildren(...rows);
  show(empty, rows.length === 0);
}
