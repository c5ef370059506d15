// Pending orders on the terminal: the table, the editor, the chart's lines and the
// notifications, kept in step with the API and the live feed.
//
// The list comes from GET /trade/get-pending-orders at each of the terminal's refreshes;
// the live feed's `orders` events (placed, filled, canceled, expired, amended) tell the
// user at once and ask for a refresh. An order that is gone at a refresh without a word
// from the feed (it was down) is found among the open positions (a filled order's position
// keeps its id) or in the order history, and told then: one notification either way.

import { AmendDialog } from "./amend.js";
import { byId, setText, show } from "./dom.js";
import { OrderNotices } from "./order_notices.js";
import { PendingOrdersTable, orderWords, parsePendingOrder } from "./pending.js";

export const PENDING_EVENTS = new Set(["placed", "filled", "canceled", "expired", "amended"]);
const ENDS = new Set(["filled", "canceled", "expired"]);
const HISTORY_RETRY_MS = [0, 500, 1500, 4000];

export class PendingDesk {
  /**
   * @param {object} context  instruments: Map symbol -> {info, contract}; quote(asset);
   *   staleAfterS; call(path, options): the API; report(source, message): the banner;
   *   refresh(): reload the account; chart: the PriceChart; opened(orderId): a position
   *   the page should expect
   */
  constructor(context) {
    this.context = context;
    this.known = new Set();
    this.cancelling = new Set();
    this.notices = new OrderNotices();
    this.stopped = false;
    this.table = new PendingOrdersTable(byId("pending-orders"), byId("pending-empty"), {
      edit: (order) => this.editor.open(order),
      cancel: (order, row) => this.cancel(order, row),
    });
    this.editor = new AmendDialog({
      instruments: context.instruments,
      quote: context.quote,
      staleAfterS: context.staleAfterS,
      amend: (body) => this.amend(body),
    });
  }

  /** Every pending order from the API (null when they cannot be loaded: said why). */
  async load() {
    const { call, report } = this.context;
    try {
      let { orders, nextCursor } = await call("/api/v1/trade/get-pending-orders");
      while (nextCursor != null) {
        const page = await call(`/api/v1/trade/get-pending-orders?limit=500&cursor=${encodeURIComponent(nextCursor)}`);
        orders = orders.concat(page.orders);
        nextCursor = page.nextCursor;
      }
      report("pending", null);
      return orders;
    } catch (error) {
      if (error.status !== 401) report("pending", `Cannot load your pending orders: ${error.message}`);
      return null;
    }
  }

  /** Show `orders` (from the API; `positions`: the open positions, parsed) and tell what
   * ended unannounced (looked up in the background: the refresh does not wait for it). */
  sync(orders, positions) {
    const { instruments, chart } = this.context;
    const parsed = orders
      .filter((order) => instruments.has(order.asset))
      .map((order) => parsePendingOrder(order, instruments.get(order.asset)));
    const before = this.table.orders;
    const present = new Set(parsed.map((order) => order.orderId));
    const gone = [...this.known].filter(
      (id) => !present.has(id) && !this.cancelling.has(id) && !this.notices.ended(id),
    );
    this.known = present;
    this.table.sync(parsed);
    chart.setPendingOrders(parsed);
    const opened = new Map(positions.map((position) => [position.orderId, position]));
    const unexplained = [];
    for (const id of gone) {
      this.editor.gone(id);
      if (opened.has(id)) this.notices.tell("filled", { ...before.get(id), ...opened.get(id) });
      else if (before.has(id)) unexplained.push(before.get(id));
    }
    if (unexplained.length) this.explain(unexplained);
  }

  /** How `orders` ended, from the order history (written a moment after the engine
   * decides, so it is read a few times). */
  async explain(orders) {
    const waiting = new Map(orders.map((order) => [order.orderId, order]));
    for (const delay of HISTORY_RETRY_MS) {
      if (waiting.size === 0 || this.stopped) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      let page;
      try {
        page = await this.context.call("/api/v1/trade/get-order-history?limit=50");
      } catch {
        continue;
      }
      for (const ended of page.orders ?? []) {
        const order = waiting.get(ended.orderId);
        if (order === undefined) continue;
        waiting.delete(ended.orderId);
        const event = { filled: "filled", expired: "expired" }[ended.status] ?? "canceled";
        this.notices.tell(event, { ...order, ...ended });
      }
    }
  }

  /** A pending order's event from the live feed. */
  onEvent(event, order) {
    if (event === "placed") this.known.add(order.orderId);
    if (ENDS.has(event)) {
      this.known.delete(order.orderId);
      this.editor.gone(order.orderId);
    }
    if (event === "filled") this.context.opened(order.orderId);
    this.notices.tell(event, order);
  }

  /** The ticket placed an order (`sent`: the request, `placed`: the answer). */
  placed(sent, placed) {
    this.known.add(placed.orderId);
    this.notices.tell("placed", { ...sent, ...placed });
  }

  /** Amend a pending order (`body`: the amend-order request); throws the API's refusal. */
  async amend(body) {
    const amended = await this.context.call("/api/v1/trade/amend-order", { method: "POST", body });
    this.notices.tell("amended", amended);
    await this.context.refresh();
    return amended;
  }

  /** Cancel an order the user confirmed; `row.done(ok)` once the server has answered. */
  async cancel(order, row) {
    const problem = byId("pending-error");
    show(problem, false);
    this.cancelling.add(order.orderId);
    try {
      const answer = await this.context.call("/api/v1/trade/cancel-order", {
        method: "POST",
        body: { orderId: order.orderId },
      });
      this.notices.tell("canceled", { ...order, ...answer, reason: "user" });
      row.done(true);
    } catch (error) {
      this.cancelling.delete(order.orderId);
      row.done(false);
      const words =
        error.error === "order_not_found"
          ? "it is no longer pending (it has filled, expired or been cancelled meanwhile)."
          : error.message;
      setText(problem, `Could not cancel the ${orderWords(order)}: ${words}`);
      show(problem, true);
    }
    await this.context.refresh();
  }

  updateLive(quotes) {
    this.table.updateLive(this.context.instruments, quotes);
  }

  stop() {
    this.stopped = true;
    this.editor.close();
  }
}
