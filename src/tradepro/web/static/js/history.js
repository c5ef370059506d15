// Closed trades: the history table a page at a time ("More" fetches the next one with the
// API's cursor; "Download CSV" is a plain link to the export), both narrowed by the same
// filters (history_filters.js); one notification per position the engine closed
// (take-profit, stop-loss, margin call), whether the live feed or a refresh found it first,
// and the list of what closed while the page was away (those look at every trade, whatever
// the filters).

import { AwayPanel, SeenMarker, closedAfter } from "./away.js";
import { byId, setText, show } from "./dom.js";
import { groupDigits, reasonLabel, sideLabel, signedUsd } from "./format.js";
import { USD_DECIMALS, parseSigned } from "./money.js";
import { renderClosedOrders } from "./orders.js";
import { Coalesced } from "./pace.js";
import { symbolLabel } from "./symbols.js";
import { toast } from "./toasts.js";

export const PAGE_SIZE = 20;

/** A closed trade's own id: a partial close's trade id, or the order id of a whole close
 * (which is its trade id). Several trades can share an order id, never a trade id. */
export function tradeKey(order) {
  return order.tradeId ?? order.orderId;
}
const ENGINE_REASONS = new Set(["take_profit", "stop_loss", "trailing_stop", "margin_call"]);
const RETRY_MS = [0, 250, 500, 1000, 2000, 4000, 8000];
const AWAY_PAGES = 5;
const RELOAD_GAP_MS = 300;
const CATCH_UP_RETRY_MS = 5000;

export class History {
  /** @param call  the API call that handles a 401; @param report  the error banner;
   * @param userId  whose "last seen" marker this browser keeps;
   * @param onNewest  called when the newest closed trade changes (the statistics follow) */
  constructor(call, report, userId, onNewest = () => {}) {
    this.call = call;
    this.onNewest = onNewest;
    this.report = report;
    this.told = new Set(); // closes this page has told its user about
    this.orders = []; // loaded, newest first
    this.cursor = null; // where the next older page starts; null when there is none
    this.extended = false; // older pages were loaded with "More"
    this.stopped = false;
    this.marker = new SeenMarker(userId);
    this.away = new AwayPanel();
    this.loads = new Coalesced(() => this.load(), RELOAD_GAP_MS);
    this.filters = new URLSearchParams(); // what the table and the CSV link keep
    this.moreButton = byId("history-more");
    this.moreButton.addEventListener("click", () => this.more());
  }

  get filtered() {
    return this.filters.size > 0;
  }

  /** One page of closed trades, newest first, from `cursor` (null: the newest); with the
   * filters unless `filtered` is false. */
  fetchPage(cursor, filtered = true) {
    const query = new URLSearchParams(filtered ? this.filters : undefined);
    query.set("limit", String(PAGE_SIZE));
    if (cursor !== null) query.set("cursor", cursor);
    return this.call(`/api/v1/trade/get-close-orders?${query}`);
  }

  /** New filters (URLSearchParams): the table starts again from the newest matching trade,
   * and the CSV link downloads what they keep. */
  setFilters(filters) {
    this.filters = filters;
    const query = filters.toString();
    byId("history-csv").href = `/api/v1/trade/export.csv${query ? `?${query}` : ""}`;
    byId("history-csv").title = query
      ? "The closed trades that match your filters, as a CSV file (spreadsheets open it), newest first"
      : "Every closed trade of yours as a CSV file (spreadsheets open it), newest first";
    this.orders = [];
    this.cursor = null;
    this.extended = false;
    return this.load();
  }

  /** Reload the newest page (paced: the calls of a burst share one); returns its orders,
   * or null when they could not be loaded (said why). */
  refresh() {
    return this.loads.call();
  }

  async load() {
    let body;
    try {
      body = await this.fetchPage(null);
    } catch (error) {
      if (error.status !== 401) this.report("history", `Cannot load your closed trades: ${error.message}`);
      return null;
    }
    this.report("history", null);
    this.mergeNewest(body);
    if (!this.filtered) this.advanceMarker(body.orders);
    return body.orders;
  }

  /** The newest page replaces the table's top; older pages the user asked for stay
   * under it (trades never change once closed), and so does where the next one starts. */
  mergeNewest(body) {
    const changed = this.orders[0]?.orderId !== body.orders[0]?.orderId;
    if (this.extended) {
      const fresh = new Set(body.orders.map((order) => order.orderId));
      this.orders = body.orders.concat(this.orders.filter((order) => !fresh.has(order.orderId)));
    } else {
      this.orders = body.orders;
      this.cursor = body.nextCursor;
    }
    this.render();
    if (changed) this.onNewest();
  }

  /** "Show older trades": the page after the oldest one shown. */
  async more() {
    if (this.cursor === null) return;
    this.moreButton.disabled = true;
    setText(this.moreButton, "Loading…");
    try {
      const body = await this.fetchPage(this.cursor);
      const shown = new Set(this.orders.map((order) => order.orderId));
      this.orders = this.orders.concat(body.orders.filter((order) => !shown.has(order.orderId)));
      this.cursor = body.nextCursor;
      this.extended = true;
      this.report("history-more", null);
    } catch (error) {
      if (error.status !== 401) this.report("history-more", `Cannot load older closed trades: ${error.message}`);
    } finally {
      this.moreButton.disabled = false;
      setText(this.moreButton, "Show older trades");
    }
    this.render();
  }

  render() {
    renderClosedOrders(byId("closed-orders"), byId("closed-empty"), this.orders);
    const count = this.orders.length;
    show(this.moreButton, this.cursor !== null);
    let status = "";
    if (this.filtered) {
      if (this.cursor !== null) status = `Showing the newest ${count} that match your filters.`;
      else if (count === 1) status = "One closed trade matches your filters.";
      else if (count > 1) status = `All ${count} closed trades that match your filters are shown.`;
    } else if (this.cursor !== null) status = `Showing the newest ${count}.`;
    else if (count === 1) status = "This is your only closed trade.";
    else if (count > 1) status = `All ${count} closed trades are shown: there are no older ones.`;
    setText(byId("history-status"), status);
    setText(
      byId("closed-empty"),
      this.filtered ? "No closed trades match these filters: change or clear them." : "No closed trades yet.",
    );
  }

  /** On load and after a lost connection: list the trades closed since this browser last
   * told its user about one (none on its first visit), newest first, in the panel. */
  async catchUp() {
    const marker = this.marker.load();
    const missed = [];
    let cursor = null;
    let reached = false;
    for (let pages = 0; pages < AWAY_PAGES && !reached; pages += 1) {
      let body;
      try {
        body = await this.fetchPage(cursor, false);
      } catch (error) {
        if (error.status === 401 || this.stopped) return;
        this.report("history", `Cannot load your closed trades: ${error.message}`);
        setTimeout(() => {
          if (!this.stopped) this.catchUp();
        }, CATCH_UP_RETRY_MS);
        return;
      }
      if (cursor === null && !this.filtered) this.mergeNewest(body);
      for (const order of body.orders) {
        if (marker === null || !closedAfter(order, marker)) {
          reached = true;
          break;
        }
        missed.push(order);
      }
      cursor = body.nextCursor;
      if (cursor === null) reached = true;
    }
    this.report("history", null);
    const untold = missed.filter((order) => !this.told.has(tradeKey(order)));
    untold.forEach((order) => this.told.add(tradeKey(order)));
    if (untold.length > 0) this.away.add(untold, !reached);
    if (marker === null || missed.length > 0 || this.orders.length === 0) this.marker.save(this.orders[0] ?? null);
  }

  /** Move the marker up over the trades on `orders` (newest first) that this page has told
   * about; it stops below one it has not, which the next catch-up then lists. */
  advanceMarker(orders) {
    const marker = this.marker.load();
    if (marker === null) return; // the first catch-up sets it
    const newer = [];
    for (const order of orders) {
      if (!closedAfter(order, marker)) break;
      newer.push(order);
    }
    let newest = null;
    for (const order of newer.reverse()) {
      if (!this.told.has(tradeKey(order))) break;
      newest = order;
    }
    if (newest !== null) this.marker.save(newest);
  }

  /** Reload until the table holds the trades `orderIds` (trade keys; the engine records a trade a moment after it
   * announces the close), announcing the closes among them. A failed reload (too many
   * reads after a burst of closes, say) is tried again at the next step. */
  async waitFor(orderIds) {
    const pending = new Set(orderIds);
    if (this.filtered) this.refresh(); // the table; the closes are looked for among all trades
    for (const delay of RETRY_MS) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.stopped) return;
      const orders = this.filtered ? await this.newestOfAll() : await this.refresh();
      if (orders === null) continue;
      for (const order of orders.filter((found) => pending.has(tradeKey(found)))) {
        this.announce(order);
        pending.delete(tradeKey(order));
      }
      if (pending.size === 0) return;
    }
  }

  /** The newest page of every closed trade, whatever the filters; null when it cannot be
   * loaded now (the next step tries again). */
  async newestOfAll() {
    try {
      return (await this.fetchPage(null, false)).orders;
    } catch {
      return null;
    }
  }

  /** A close this page has seen happen: a notification for a close by the engine, once
   * per order (a close by the user was confirmed where they pressed the button). */
  announce(order) {
    if (this.told.has(tradeKey(order))) return;
    this.told.add(tradeKey(order));
    if (!ENGINE_REASONS.has(order.reason)) return;
    const pnl = parseSigned(order.pnl, USD_DECIMALS, "pnl");
    const name = symbolLabel(order.asset);
    toast({
      title: `${reasonLabel(order.reason)}: ${name} ${sideLabel(order.side).toLowerCase()} closed`,
      text: `${order.qty} ${name} closed at ${groupDigits(order.closePrice)}; PnL ${signedUsd(pnl)}.`,
      // A trailing stop often closes in profit: its colour is its result's.
      kind: order.reason === "take_profit" || (order.reason === "trailing_stop" && pnl >= 0n) ? "good" : "bad",
      reason: order.reason,
    });
  }

  /** Confirm a close the user asked for (`closed`: the close-order answer). */
  confirmClose(order, closed) {
    this.told.add(order.orderId);
    const pnl = parseSigned(closed.pnl, USD_DECIMALS, "pnl");
    const name = symbolLabel(order.asset);
    toast({
      title: `Closed ${name} ${sideLabel(order.side).toLowerCase()}`,
      text: `${order.qty} ${name} at ${groupDigits(closed.closePrice)}; PnL ${signedUsd(pnl)}.`,
      kind: pnl < 0n ? "warn" : "good",
      reason: "user",
    });
  }

  /** Confirm a partial close the user asked for (`closed`: the close-order answer). */
  confirmPartial(position, closed) {
    this.told.add(closed.tradeId);
    const pnl = parseSigned(closed.pnl, USD_DECIMALS, "pnl");
    const name = symbolLabel(position.asset);
    toast({
      title: `Closed part of ${name} ${sideLabel(position.side).toLowerCase()}`,
      text: `${closed.closedQty} ${name} at ${groupDigits(closed.closePrice)}; PnL ${signedUsd(pnl)}. ${closed.remainingQty} stays open.`,
      kind: pnl < 0n ? "warn" : "good",
      reason: "user",
    });
  }

  /** The trades of a close-all the user asked for: told where they pressed the button. */
  confirmAll(orders) {
    for (const order of orders) this.told.add(tradeKey(order));
  }
}
