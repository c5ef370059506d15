// The pending orders table: limit and stop orders waiting for their price, with the live
// price each one watches (the ask for a buy, the bid for a sell), an Edit button (amend.js)
// and a Cancel button that asks first.
//
// Rows are keyed by order id and kept while the order waits, so a button is never replaced
// under the user's pointer; an amended order's cells are rewritten in place. Like the open
// positions, every cell carries its column's header as `data-label`, so on a phone each
// order is a card.

import { el, headerLabels, setText, show } from "./dom.js";
import { groupDigits, priceText, usd } from "./format.js";
import { USD_DECIMALS, parseScaled } from "./money.js";
import { expiryLabel, priceField, typeLabel } from "./order_type.js";
import { symbolLabel } from "./symbols.js";

/** A pending order from the API with its numbers as scaled BigInts. */
export function parsePendingOrder(order, instrument) {
  const { priceDecimals, qtyDecimals } = instrument.info;
  const priceTextOf = order[priceField(order.type)];
  return {
    ...order,
    priceText: priceTextOf,
    qtyLots: parseScaled(order.qty, qtyDecimals, "qty"),
    priceTicks: parseScaled(priceTextOf, priceDecimals, priceField(order.type) ?? "price"),
    reservedCents: parseScaled(order.reservedMargin, USD_DECIMALS, "reservedMargin", { allowZero: true }),
  };
}

/** "buy limit 0.01 BTC/USDC at 94,000.0": an order in a sentence. */
export function orderWords(order) {
  const name = typeLabel(order.side, order.type).toLowerCase();
  return `${name} ${order.qty} ${symbolLabel(order.asset)} at ${groupDigits(order.priceText)}`;
}

const price = (text) => (text == null ? "—" : groupDigits(text));

/** What a row shows of an order: a change of any of these (an amend) rewrites its cells. */
const shown = (order) =>
  [order.priceText, order.qty, order.leverage, order.takeProfit, order.stopLoss, order.reservedMargin, order.expiresAt].join("|");

export class PendingOrdersTable {
  /**
   * @param {object} actions  edit(order): open the editor; cancel(order, row): cancel it
   *   (row.done(ok) when the server has answered)
   */
  constructor(body, empty, actions) {
    this.body = body;
    this.empty = empty;
    this.actions = actions;
    this.rows = new Map();
    this.labels = headerLabels(body.closest("table"));
  }

  /** The orders shown now (parsed), by id. */
  get orders() {
    return new Map([...this.rows].map(([orderId, row]) => [orderId, row.order]));
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
      if (row === undefined) {
        this.rows.set(order.orderId, this.addRow(order));
      } else if (shown(row.order) !== shown(order)) {
        row.order = order;
        this.fill(row);
      } else {
        row.order = order;
      }
    }
    show(this.empty, this.rows.size === 0);
  }

  addRow(order) {
    const row = { order, node: el("tr", { "data-testid": "pending-order" }), market: null, confirming: false };
    this.fill(row);
    this.body.append(row.node);
    return row;
  }

  /** Write the row's cells from its order (the action cell asks nothing). */
  fill(row) {
    const { order } = row;
    const [asset, kind, qty, lev, at, market, levels, reserved, expires] = this.labels;
    const cell = (label, text, props = {}) => el("td", { text, "data-label": label, ...props });
    row.market = cell(market, row.market?.textContent ?? "—", { class: "num muted", "data-testid": "pending-market" });
    row.action = el("div", { class: "actions" });
    Object.assign(row.node.dataset, { orderId: order.orderId, asset: order.asset, type: order.type, side: order.side });
    row.node.replaceChildren(
      cell(asset, symbolLabel(order.asset), { class: "asset" }),
      cell(kind, typeLabel(order.side, order.type), { class: `side-${order.side}`, "data-testid": "pending-kind" }),
      cell(qty, order.qty, { class: "num", "data-testid": "pending-qty" }),
      cell(lev, `${order.leverage}x`, { class: "num" }),
      cell(at, price(order.priceText), { class: "num headline", "data-testid": "pending-price" }),
      row.market,
      cell(levels, `${price(order.takeProfit)} / ${price(order.stopLoss)}`, { class: "num muted", "data-testid": "pending-levels" }),
      cell(reserved, usd(order.reservedCents), { class: "num", "data-testid": "pending-reserved" }),
      cell(expires, expiryLabel(order.expiresAt), { title: order.expiresAt ?? "Good till cancelled", "data-testid": "pending-expires" }),
      el("td", { class: "action" }, row.action),
    );
    this.showActions(row);
  }

  /** Edit and Cancel. */
  showActions(row) {
    row.confirming = false;
    const words = orderWords(row.order);
    const edit = el("button", {
      type: "button", class: "ghost small", text: "Edit", "data-testid": "edit-pending",
      "aria-label": `Edit the ${words}`,
    });
    const cancel = el("button", {
      type: "button", class: "ghost small", text: "Cancel", "data-testid": "cancel-pending",
      "aria-label": `Cancel the ${words}`,
    });
    edit.addEventListener("click", () => this.actions.edit(row.order));
    cancel.addEventListener("click", () => this.confirm(row));
    row.action.replaceChildren(edit, cancel);
  }

  /** "Cancel this buy limit? [Yes, cancel it] [Keep it]": nothing is sent before Yes. */
  confirm(row) {
    row.confirming = true;
    const name = typeLabel(row.order.side, row.order.type).toLowerCase();
    const question = el("span", { class: "confirm-text", text: `Cancel this ${name}?`, "data-testid": "cancel-question" });
    const yes = el("button", {
      type: "button", class: "ghost small danger", text: "Yes, cancel it", "data-testid": "confirm-cancel",
      "aria-label": `Yes, cancel the ${orderWords(row.order)}`,
    });
    const keep = el("button", { type: "button", class: "ghost small", text: "Keep it", "data-testid": "keep-pending" });
    keep.addEventListener("click", () => this.showActions(row));
    yes.addEventListener("click", () => {
      yes.disabled = true;
      keep.disabled = true;
      setText(yes, "Cancelling…");
      this.actions.cancel(row.order, {
        done: (ok) => {
          if (!ok && this.rows.get(row.order.orderId) === row) this.showActions(row);
        },
      });
    });
    row.action.replaceChildren(question, yes, keep);
    keep.focus();
  }

  /** The price each order watches, from the latest quotes. */
  updateLive(instruments, quotes) {
    for (const row of this.rows.values()) {
      const { order } = row;
      const quote = quotes.get(order.asset);
      const instrument = instruments.get(order.asset);
      if (quote == null || instrument === undefined) continue;
      const watched = order.side === "buy" ? quote.ask : quote.bid;
      const name = order.side === "buy" ? "ask" : "bid";
      setText(row.market, `${name} ${priceText(watched, instrument.info.priceDecimals)}`);
    }
  }
}
