// "Closed while you were away": which closed trades this browser has already told its
// user about, and the panel that lists the ones it has not.
//
// The newest trade told about is remembered per user in localStorage (its closedAt and
// order id), so a page opened later, or one that lost its connection for a while, lists
// exactly the trades closed since (take-profits, stop-losses and margin calls while the
// tab was closed, or positions closed from another device).

import { byId, el, setText, show } from "./dom.js";
import { groupDigits, reasonLabel, sideLabel, signedUsd, timeLabel, tone } from "./format.js";
import { USD_DECIMALS, parseSigned } from "./money.js";
import { symbolLabel } from "./symbols.js";

const EMPTY_HISTORY = { closedAt: "", orderId: null };

/** Where this browser's user stopped reading their closed trades. */
export class SeenMarker {
  constructor(userId) {
    this.key = `tradepro.lastSeenClose.${userId}`;
  }

  /** `{closedAt, orderId}` of the newest trade told about; EMPTY_HISTORY when the history
   * was empty then; null when this browser has never shown this user's account. */
  load() {
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(this.key) ?? "null");
    } catch {
      return null; // unreadable: start over as on a first visit
    }
    const valid = typeof saved?.closedAt === "string" && (saved.orderId === null || typeof saved.orderId === "string");
    return valid ? { closedAt: saved.closedAt, orderId: saved.orderId } : null;
  }

  /** Remember `order` (null: the history is empty) as the newest trade told about. */
  save(order) {
    const marker = order === null ? EMPTY_HISTORY : { closedAt: order.closedAt, orderId: order.orderId };
    try {
      localStorage.setItem(this.key, JSON.stringify(marker));
    } catch {
      // storage full or refused: the next visit lists these trades again, nothing worse
    }
  }
}

/** Whether `order` closed after `marker` (closedAt is ISO with a fixed format, so the
 * strings compare in time order; the marker's own order is not after itself). */
export function closedAfter(order, marker) {
  return order.orderId !== marker.orderId && order.closedAt >= marker.closedAt;
}

/** The dismissible panel at the top of the terminal. */
export class AwayPanel {
  constructor() {
    this.panel = byId("away");
    this.list = byId("away-list");
    byId("away-dismiss").addEventListener("click", () => this.dismiss());
  }

  /** Add `orders` (newest first) to the panel; `more`: older ones were not looked at. */
  add(orders, more) {
    const items = orders.map((order) => {
      const pnl = parseSigned(order.pnl, USD_DECIMALS, "pnl");
      return el(
        "li",
        { "data-testid": "away-trade", dataset: { orderId: order.orderId, reason: order.reason } },
        el("span", { class: "when", text: timeLabel(order.closedAt), title: order.closedAt }),
        el("span", {
          class: "what",
          text: `${symbolLabel(order.asset)} ${sideLabel(order.side).toLowerCase()} ${order.qty}: ` +
            `${reasonLabel(order.reason)} at ${groupDigits(order.closePrice)}` +
            (order.liquidated ? " (liquidated)" : ""),
        }),
        el("span", { class: "pnl", text: signedUsd(pnl), dataset: { tone: tone(pnl) } }),
      );
    });
    this.list.prepend(...items);
    const count = this.list.children.length;
    setText(byId("away-count"), `${count} trade${count === 1 ? "" : "s"} closed since this page last showed your account.`);
    const older = byId("away-more");
    if (more) setText(older, "Older ones too: see Closed trades below.");
    show(older, more || !older.hidden);
    show(this.panel, true);
  }

  dismiss() {
    this.list.replaceChildren();
    show(byId("away-more"), false);
    show(this.panel, false);
  }
}
