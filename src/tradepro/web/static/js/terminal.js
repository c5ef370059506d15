// The trading terminal: quotes, account, positions, pending orders (pending_desk.js),
// history, notifications.
//
// Truth comes from the API (open orders, balance, history), refreshed every few seconds and
// after every event; between refreshes each quote from the WebSocket moves the mark prices,
// the unrealized PnL and the equity, computed exactly as the engine does. A position that
// the engine closes is announced by the live feed, or, if that is down, found missing at
// the next refresh and looked up in the history: either way the user gets one notification.

import { AccountMenu } from "./account_menu.js";
import { ApiError, api, newKey } from "./api.js";
import { PriceChart } from "./chart.js";
import { byId, el, setText, show } from "./dom.js";
import { FeedState } from "./feed.js";
import { groupDigits, usd } from "./format.js";
import { EquityCurve } from "./equity.js";
import { History, tradeKey } from "./history.js";
import { HistoryFilters } from "./history_filters.js";
import { ApiKeys } from "./keys.js";
import { LiveFeed } from "./live.js";
import { USD_DECIMALS, parseScaled, parseSigned } from "./money.js";
import { ManagePanel } from "./manage_panel.js";
import { OpenOrdersTable, parseOpenOrder } from "./orders.js";
import { LineDragger } from "./position_lines.js";
import { Coalesced } from "./pace.js";
import { isPending } from "./order_type.js";
import { PENDING_EVENTS, PendingDesk } from "./pending_desk.js";
import { symbolLabel } from "./symbols.js";
import { INTERVALS, loadAsset, loadInterval, saveAsset, saveInterval } from "./saved.js";
import { Stats } from "./stats.js";
import { OrderTicket } from "./ticket.js";

const REFRESH_LIVE_MS = 15000;
const REFRESH_OFFLINE_MS = 2000;
const REFRESH_GAP_MS = 300;
const ACCOUNT_RETRY_MS = 1000;

export class Terminal {
  constructor(config, instruments, user, report, signIn) {
    this.config = config;
    this.instruments = instruments;
    this.user = user;
    this.report = report;
    this.signIn = signIn;
    this.asset = instruments.keys().next().value;
    this.interval = loadInterval(INTERVALS[0]);
    this.equity = null;
    this.quotes = new Map();
    this.account = null;
    this.knownOpen = new Set();
    this.closingByUser = new Set();
    const call = (path, options) => this.call(path, options);
    this.stats = new Stats(call, report);
    this.equityCurve = new EquityCurve(call, report);
    this.history = new History(call, report, user.id, () => {
      this.stats.refresh();
      this.equityCurve.refresh();
    });
    this.historyFilters = new HistoryFilters(instruments, (filters) => this.history.setFilters(filters));
    this.apiKeys = new ApiKeys(call);
    this.accountMenu = new AccountMenu(call, {
      counts: () => ({ positions: this.knownOpen.size, pending: this.pending.known.size }),
      balance: () => this.account?.balance ?? null,
      changed: () => this.accountChanged(),
    });
    this.connection = "connecting";
    this.wasLive = false;
    this.timers = [];
    this.accountLoads = new Coalesced(() => this.loadAccount(), REFRESH_GAP_MS);
    this.chart = new PriceChart(
      { box: byId("chart"), note: byId("chart-note"), legend: byId("chart-legend"), lines: byId("chart-lines") },
      (message) => this.report("chart", message),
    );
    this.manage = new ManagePanel({
      instruments,
      quote: (asset) => this.quotes.get(asset) ?? null,
      call,
      refresh: () => this.refresh(),
      history: this.history,
      chart: this.chart,
      positions: () => [...this.openTable.rows.values()].map((row) => row.order),
      asset: () => this.asset,
    });
    this.lineDragger = new LineDragger(this.chart, (position, kind, ticks) => this.manage.confirmDrop(position, kind, ticks));
    this.openTable = new OpenOrdersTable(byId("open-orders"), byId("open-empty"), {
      close: (order, button) => this.close(order, button),
      closePart: (order) => this.manage.closePart(order),
      editLevels: (order) => this.manage.editLevels(order),
    });
    this.pending = new PendingDesk({
      instruments,
      quote: (asset) => this.quotes.get(asset) ?? null,
      staleAfterS: config.staleAfterS,
      call: (path, options) => this.call(path, options),
      report,
      refresh: () => this.refresh(),
      chart: this.chart,
      opened: (orderId) => this.knownOpen.add(orderId),
    });
    this.ticket = new OrderTicket({
      instruments,
      instrument: () => this.instruments.get(this.asset),
      quote: () => this.quotes.get(this.asset) ?? null,
      freeBalance: () => this.account?.balance ?? null,
      equity: () => this.equity,
      staleAfterS: config.staleAfterS,
      submit: (body) => this.create(body),
    });
    this.feedState = new FeedState(config, {
      asset: () => this.asset,
      quote: () => this.quotes.get(this.asset),
      setTradable: (reason) => this.ticket.setTradable(reason),
    });
    const channels = [...instruments.keys()].map((symbol) => `prices.${symbol}`).concat("orders");
    this.feed = new LiveFeed(config.wsUrl, channels, {
      onPrice: (message) => this.onPrice(message),
      onOrder: (message) => this.onOrder(message),
      onFeed: (message) => this.feedState.onFeed(message),
      onAccount: () => this.accountChanged(),
      onState: (state, detail) => this.onConnection(state, detail),
      onUnauthorized: () => this.checkSession("The live feed refused your session."),
      onServerError: (message) => this.report("live", `Live feed: ${message.message}`),
    });
  }

  start() {
    show(byId("trading-view"), true);
    show(byId("market-bar"), true);
    show(byId("account-bar"), true);
    setText(byId("who"), this.user.email);
    byId("who").title = this.user.email;
    this.setupPicker();
    this.ticket.setInstrument(this.instruments.get(this.asset));
    this.chart.start(this.config.chartLibrary).then(() => this.showChart());
    this.feed.start();
    this.feedState.start();
    this.refresh();
    this.history.catchUp();
    this.stats.refresh();
    this.equityCurve.start(this.config.chartLibrary);
    this.apiKeys.load();
    this.timers.push(setInterval(() => this.renderQuote(), 1000));
    this.scheduleRefresh();
  }

  stop() {
    this.feed.stop();
    this.feedState.stop();
    this.chart.stop();
    this.equityCurve.stop();
    this.pending.stop();
    this.timers.forEach((timer) => clearInterval(timer));
    clearTimeout(this.refreshTimer);
    clearTimeout(this.accountRetry);
    this.stopped = true;
    this.history.stopped = true;
  }

  setupPicker() {
    const picker = byId("asset");
    this.asset = loadAsset(this.instruments, this.asset);
    picker.replaceChildren(...[...this.instruments.keys()].map((symbol) => el("option", { value: symbol, text: symbolLabel(symbol) })));
    picker.value = this.asset;
    picker.addEventListener("change", () => {
      this.asset = picker.value;
      saveAsset(this.asset);
      this.ticket.setInstrument(this.instruments.get(this.asset));
      this.renderQuote();
      this.feedState.render();
      this.showChart();
    });
    const intervals = [...document.querySelectorAll("[data-interval]")];
    const press = (pressed) => intervals.forEach((other) => other.setAttribute("aria-pressed", String(other === pressed)));
    press(intervals.find((button) => button.dataset.interval === this.interval));
    for (const button of intervals) {
      button.addEventListener("click", () => {
        this.interval = button.dataset.interval;
        saveInterval(this.interval);
        press(button);
        this.showChart();
      });
    }
    byId("signout").addEventListener("click", () => this.signOut());
    byId("close-all").addEventListener("click", () => this.manage.closeAll());
  }

  showChart() {
    const { priceDecimals } = this.instruments.get(this.asset).info;
    setText(byId("chart-title"), `${symbolLabel(this.asset)} · ${this.interval}`);
    this.chart.show(this.asset, this.interval, priceDecimals);
  }

  // -- live feed ---------------------------------------------------------------------------

  onPrice(message) {
    const instrument = this.instruments.get(message.asset);
    if (instrument === undefined) return;
    const decimals = instrument.info.priceDecimals;
    try {
      this.quotes.set(message.asset, {
        bid: parseScaled(message.bid, decimals, "bid"),
        ask: parseScaled(message.ask, decimals, "ask"),
        message,
        arrivedAt: performance.now(),
      });
    } catch (error) {
      this.report("live", `Live feed sent an unreadable ${symbolLabel(message.asset)} quote: ${error.message}`);
      return;
    }
    const quote = this.quotes.get(message.asset);
    this.chart.onQuote(message.asset, quote.bid, quote.ask, message.ts);
    if (message.asset === this.asset) {
      this.renderQuote();
      this.ticket.update();
      this.feedState.render();
    }
    this.renderLive();
  }

  onOrder(message) {
    const order = message.order;
    if (message.event === "created") this.knownOpen.add(order.orderId);
    // A fill's event carries the order as it rested and the position it opened.
    const position = message.event === "filled" && message.position ? message.position : {};
    if (PENDING_EVENTS.has(message.event)) this.pending.onEvent(message.event, { ...order, ...position });
    if (message.event === "closed") this.history.announce(order);
    this.refresh();
    if (message.event === "closed") this.history.waitFor([tradeKey(order)]);
  }

  onConnection(state, detail = "") {
    // Only a switch between live and not live changes the refresh pace (resetting the
    // timer on every retry would starve the offline refresh).
    const paceChanged = (state === "live") !== (this.connection === "live");
    this.connection = state;
    const badge = byId("badge-connection");
    setText(badge, { live: "Live", connecting: "Connecting…", offline: "Offline" }[state]);
    badge.dataset.state = state;
    badge.title = detail || (state === "live" ? "Connected to the TradePro server (prices and order events)" : "");
    if (state === "live") this.report("live", null);
    else if (state === "offline" && detail) this.report("live", `Live prices unavailable: ${detail}.`);
    // Back after a lost connection: list what closed meanwhile that nobody announced.
    if (state === "live" && this.wasLive && paceChanged) this.history.catchUp();
    if (state === "live") this.wasLive = true;
    if (paceChanged) this.scheduleRefresh();
  }

  renderQuote() {
    const quote = this.quotes.get(this.asset);
    setText(byId("bid"), quote ? groupDigits(quote.message.bid) : "—");
    setText(byId("ask"), quote ? groupDigits(quote.message.ask) : "—");
    setText(byId("spread"), quote ? groupDigits(quote.message.spread) : "—");
    show(byId("badge-simulated"), Boolean(quote?.message.simulated));
    const stale = byId("badge-stale");
    const age = quote ? (performance.now() - quote.arrivedAt) / 1000 : null;
    const limit = `orders need a price at most ${this.config.staleAfterS} s old`;
    if (quote === undefined) {
      setText(stale, "No price yet");
      stale.title = `No quote has arrived for ${symbolLabel(this.asset)} yet: ${limit}`;
    } else {
      setText(stale, `Stale ${Math.ceil(age)} s`);
      stale.title = `No quote for ${Math.ceil(age)} s: ${limit}`;
    }
    show(stale, quote === undefined || age > this.config.staleAfterS);
  }

  /** Marks, PnL and equity at the latest quotes. */
  renderLive() {
    const pnl = this.openTable.updateLive(this.instruments, this.quotes);
    this.pending.updateLive(this.quotes);
    if (this.account === null) return;
    const { balance, locked, orderMargin } = this.account;
    setText(byId("balance"), usd(balance));
    setText(byId("locked"), usd(locked));
    setText(byId("order-margin"), usd(orderMargin));
    this.equity = balance + locked + orderMargin + pnl;
    setText(byId("equity"), usd(this.equity));
  }

  // -- REST ---------------------------------------------------------------------------------

  /** Call the API; a 401 anywhere means the session is over: back to sign-in. */
  async call(path, options) {
    try {
      return await api(path, options);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && !this.stopped) {
        this.signIn("Your session has ended: sign in again.");
      }
      throw error;
    }
  }

  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    const delay = this.connection === "live" ? REFRESH_LIVE_MS : REFRESH_OFFLINE_MS;
    this.refreshTimer = setTimeout(async () => {
      await this.refresh();
      if (!this.stopped) this.scheduleRefresh();
    }, delay);
  }

  /** After a deposit or a reset: balance, positions, pending orders, history, statistics. */
  accountChanged() {
    return Promise.all([this.refresh(), this.history.refresh(), this.stats.refresh()]);
  }

  /** Reload open orders and balance (one at a time, paced: the calls of a burst share one). */
  refresh() {
    return this.accountLoads.call();
  }

  async loadAccount() {
    // Positions learnt of (an event, this page's own order) while the reads are on their
    // way may be missing from them without having closed: only those known before count.
    const knownBefore = new Set(this.knownOpen);
    let orders;
    let balance;
    let pending;
    try {
      [orders, balance, pending] = await Promise.all([
        this.openOrders(), this.call("/api/v1/balance/me"), this.pending.load(),
      ]);
    } catch (error) {
      if (error.status === 401) return;
      this.report("account", `Cannot load your account: ${error.message}`);
      // Try again soon rather than at the next timed refresh: a refused read (too many
      // reads a second after a burst of events) must not leave positions stale for long.
      if (this.accountRetry === undefined && !this.stopped) {
        this.accountRetry = setTimeout(() => {
          this.accountRetry = undefined;
          if (!this.stopped) this.refresh();
        }, ACCOUNT_RETRY_MS);
      }
      return;
    }
    this.report("account", null);
    this.account = {
      balance: parseScaled(balance.balance, USD_DECIMALS, "balance", { allowZero: true }),
      locked: parseScaled(balance.lockedMargin, USD_DECIMALS, "lockedMargin", { allowZero: true }),
      orderMargin: parseScaled(balance.orderMargin ?? "0", USD_DECIMALS, "orderMargin", { allowZero: true }),
      equity: parseSigned(balance.equity, USD_DECIMALS, "equity"),
    };
    const parsed = orders.filter((order) => this.instruments.has(order.asset)).map((order) => parseOpenOrder(order, this.instruments.get(order.asset)));
    const present = new Set(parsed.map((order) => order.orderId));
    const vanished = [...knownBefore].filter((id) => !present.has(id) && !this.closingByUser.has(id));
    const learntMeanwhile = [...this.knownOpen].filter((id) => !knownBefore.has(id));
    this.knownOpen = new Set([...present, ...learntMeanwhile]);
    this.openTable.sync(parsed);
    show(byId("close-all"), parsed.length > 0);
    this.chart.setPositions(parsed);
    if (pending !== null) this.pending.sync(pending, parsed);
    this.renderLive();
    this.ticket.update();
    // Looking for the closed trades takes up to seconds of retries: not in the way of the
    // next reload.
    if (vanished.length) this.history.waitFor(vanished);
  }

  /** Every open order: the first page, then the rest 500 at a time (the API's largest). */
  async openOrders() {
    let { orders, nextCursor } = await this.call("/api/v1/trade/get-open-orders");
    while (nextCursor != null) {
      const query = `limit=500&cursor=${encodeURIComponent(nextCursor)}`;
      const page = await this.call(`/api/v1/trade/get-open-orders?${query}`);
      orders = orders.concat(page.orders);
      nextCursor = page.nextCursor;
    }
    return orders;
  }

  async create(body) {
    const opened = await this.call("/api/v1/trade/create-order", {
      method: "POST",
      body,
      headers: { "Idempotency-Key": newKey() },
    });
    if (isPending(body.type)) this.pending.placed(body, opened);
    else this.knownOpen.add(opened.orderId);
    await this.refresh();
    return opened;
  }

  async close(order, button) {
    button.disabled = true;
    this.closingByUser.add(order.orderId);
    const positionsError = byId("positions-error");
    show(positionsError, false);
    try {
      const closed = await this.call("/api/v1/trade/close-order", { method: "POST", body: { orderId: order.orderId } });
      this.history.confirmClose(order, closed);
    } catch (error) {
      this.closingByUser.delete(order.orderId);
      button.disabled = false;
      setText(positionsError, `Could not close the ${symbolLabel(order.asset)} position: ${error.message}`);
      show(positionsError, true);
      return;
    }
    await Promise.all([this.refresh(), this.history.waitFor([order.orderId])]);
  }

  async checkSession(why) {
    try {
      await this.call("/api/v1/auth/protected-route-test");
      this.report("live", `${why} Live prices are off; the page refreshes from the API instead.`);
    } catch (error) {
      if (error.status !== 401) this.report("live", `${why} ${error.message}`);
    }
  }

  async signOut() {
    try {
      await api("/api/v1/auth/signout", { method: "POST" });
    } catch (error) {
      this.report("signout", `Sign-out failed: ${error.message}`);
      return;
    }
    this.signIn("You are signed out.");
  }
}
