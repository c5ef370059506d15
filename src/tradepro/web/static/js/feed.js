// The price feed's state, in words: is the exchange reachable, do quotes arrive, are they
// simulated, and is there a fresh price to trade the selected asset at?
//
// Two sources: the `feed` messages of the WebSocket server (the poller's report: live,
// no quotes since T, exchange unreachable since T, simulated) and the age of the selected
// asset's last quote (this page's own clock). Whatever the page's own connection to our
// server does (the Live/Offline badge), this line is about the exchange and the prices.
// While no fresh price exists, the ticket's Buy/Sell is disabled with the reason.

import { byId, setText, show } from "./dom.js";
import { symbolLabel } from "./symbols.js";

const OFFLINE_HINT = "make run FEED=sim";

/** "23:14" in the reader's time zone. */
function clockTime(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function secondsSince(iso) {
  return Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
}

export class FeedState {
  /**
   * @param {object} config  /api/v1/config: `feed` (which feed runs), `staleAfterS`
   * @param {object} context  asset() -> symbol; quote() -> {arrivedAt} or undefined;
   *   setTradable(reason or null): the ticket's hook
   */
  constructor(config, context) {
    this.config = config;
    this.context = context;
    this.report = null;
    this.timer = null;
    this.line = byId("feed-state");
  }

  start() {
    this.render();
    this.timer = setInterval(() => this.render(), 1000);
  }

  stop() {
    clearInterval(this.timer);
  }

  /** A `feed` message from the WebSocket server. */
  onFeed(message) {
    this.report = message;
    this.render();
  }

  render() {
    const { text, detail, tone } = this.describe();
    setText(this.line, text);
    this.line.title = detail;
    this.line.dataset.tone = tone;
    show(this.line, Boolean(text));
    const simulated = this.config.feed === "sim" || this.report?.state === "simulated";
    show(byId("chart-backfill"), simulated);
    this.context.setTradable(this.reason());
  }

  /** The line above the terminal: {text, detail (its tooltip), tone}. */
  describe() {
    const report = this.report;
    const asset = symbolLabel(this.context.asset());
    const age = this.age();
    if (report?.state === "unreachable") {
      const since = report.since ? ` since ${clockTime(report.since)}` : "";
      return {
        text: `Exchange unreachable${since} — prices are not updating. To trade offline, run: ${OFFLINE_HINT}`,
        detail: report.error ? `Last error: ${report.error}` : "",
        tone: "down",
      };
    }
    if (report?.state === "no_quotes" && report.since) {
      return {
        text: `Connected to the exchange, but no quotes for ${secondsSince(report.since)} s — prices are not updating`,
        detail: `The last quote arrived at ${clockTime(report.since)}.`,
        tone: "warn",
      };
    }
    if (report?.state === "connecting") {
      return { text: "Connecting to the exchange… no prices yet", detail: "", tone: "warn" };
    }
    if (age === null) {
      return { text: `No ${asset} price yet — waiting for the first quote`, detail: "", tone: "warn" };
    }
    if (age > this.config.staleAfterS) {
      return {
        text: `${asset} prices stale for ${Math.ceil(age)} s`,
        detail: `Orders need a price at most ${this.config.staleAfterS} s old.`,
        tone: "warn",
      };
    }
    if (report?.state === "simulated" || this.config.feed === "sim") {
      return {
        text: "Simulated prices — a random walk for offline use, not market quotes",
        detail: "",
        tone: "sim",
      };
    }
    return { text: "", detail: "", tone: "up" };
  }

  /** Why no order can be sent for the selected asset now, or null when it can. */
  reason() {
    const asset = symbolLabel(this.context.asset());
    const age = this.age();
    if (this.report?.state === "unreachable") {
      return "Trading is paused: the exchange cannot be reached, so there is no fresh price.";
    }
    if (age === null) return `No ${asset} price yet: orders need a live price.`;
    if (age > this.config.staleAfterS) {
      return `No fresh ${asset} price: the last arrived ${Math.ceil(age)} s ago (orders need one at most ${this.config.staleAfterS} s old).`;
    }
    return null;
  }

  /** Seconds since the selected asset's last quote arrived (null: none yet). */
  age() {
    const quote = this.context.quote();
    return quote === undefined || quote === null ? null : (performance.now() - quote.arrivedAt) / 1000;
  }
}
