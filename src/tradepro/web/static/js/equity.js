// The equity curve: GET /api/v1/account/portfolio-history drawn as a line with
// lightweight-charts (loaded like the price chart: without it, the page says so and still
// gives the latest figure in words), over 24 hours, 30 days or a year.
//
// Chart coordinates are JS numbers: that is drawing, not money. Every figure in words comes
// from the API's decimal strings (BigInt), like every amount on the page.

import { byId, setText, show } from "./dom.js";
import { signedUsd, tone, usd } from "./format.js";
import { USD_DECIMALS, parseSigned } from "./money.js";
import { Coalesced } from "./pace.js";

const LIBRARY_URL = "/static/vendor/lightweight-charts.standalone.production.js";
const RELOAD_MS = 60000;
const RELOAD_GAP_MS = 2000;
const SPAN_WORDS = { "1m": "the last 24 hours", "1h": "the last 30 days", "1d": "the last year" };
const SPAN_KEY = "tradepro.equitySpan";

function loadLibrary() {
  if (window.LightweightCharts) return Promise.resolve(window.LightweightCharts);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = LIBRARY_URL;
    script.addEventListener("load", () => resolve(window.LightweightCharts));
    script.addEventListener("error", () => reject(new Error("not installed")));
    document.head.append(script);
  });
}

/** "2026-12-05T14:00:00.000Z" -> "Dec 5, 14:00 UTC" (the API's points are UTC minutes). */
export function pointLabel(iso) {
  const moment = new Date(iso);
  const month = moment.toLocaleString("en", { month: "short", timeZone: "UTC" });
  const pad = (value) => String(value).padStart(2, "0");
  return `${month} ${moment.getUTCDate()}, ${pad(moment.getUTCHours())}:${pad(moment.getUTCMinutes())} UTC`;
}

/** What the panel says about `points` (oldest first) over `span`: the latest equity and
 * its change since the first point, or why there is nothing to show yet. */
export function summary(points, span) {
  if (points.length === 0) {
    return {
      text: `No equity history for ${SPAN_WORDS[span]} yet: the curve starts at the first whole minute after you signed up.`,
      tone: null,
    };
  }
  const last = points[points.length - 1];
  const latest = parseSigned(last.equity, USD_DECIMALS, "equity");
  const change = latest - parseSigned(points[0].equity, USD_DECIMALS, "equity");
  const since = points.length > 1 ? `, ${signedUsd(change)} since ${pointLabel(points[0].time)}` : "";
  return { text: `${usd(latest)} at ${pointLabel(last.time)}${since}.`, tone: points.length > 1 ? tone(change) : null };
}

export class EquityCurve {
  /** @param call  the API call that handles a 401; @param report  the error banner */
  constructor(call, report) {
    this.call = call;
    this.report = report;
    this.box = byId("equity-chart");
    this.note = byId("equity-note");
    this.chart = null;
    this.series = null;
    this.resizes = null;
    this.span = "1h";
    try {
      this.span = SPAN_WORDS[localStorage.getItem(SPAN_KEY)] ? localStorage.getItem(SPAN_KEY) : "1h";
    } catch {
      // storage refused (private mode): the default span
    }
    this.loads = new Coalesced(() => this.load(), RELOAD_GAP_MS);
    this.timer = null;
    this.buttons = [...document.querySelectorAll("[data-span]")];
    for (const button of this.buttons) {
      button.addEventListener("click", () => this.choose(button.dataset.span));
    }
  }

  async start(available) {
    this.pressed();
    let library = null;
    if (available) {
      try {
        library = await loadLibrary();
      } catch {
        library = null;
      }
    }
    if (library) {
      this.chart = library.createChart(this.box, {
        autoSize: true,
        layout: { background: { type: "solid", color: "#0f131b" }, textColor: "#8d97a8", fontSize: 11 },
        grid: { vertLines: { color: "#1a2130" }, horzLines: { color: "#1a2130" } },
        timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#232b3b" },
        rightPriceScale: { borderColor: "#232b3b" },
        handleScroll: false,
        handleScale: false,
      });
      this.series = this.chart.addSeries(library.LineSeries, { color: "#5b9dff", lineWidth: 2 });
      // The whole span always fits the box (scrolling and zooming are off), on any width.
      this.resizes = new ResizeObserver(() => this.chart?.timeScale().fitContent());
      this.resizes.observe(this.box);
      this.box.dataset.chart = "ready";
    } else {
      this.box.dataset.chart = "missing";
    }
    this.timer = setInterval(() => this.refresh(), RELOAD_MS);
    return this.refresh();
  }

  stop() {
    clearInterval(this.timer);
    this.resizes?.disconnect();
    if (this.chart !== null) this.chart.remove();
    this.chart = null;
    this.series = null;
  }

  refresh() {
    return this.loads.call();
  }

  choose(span) {
    if (span === this.span) return;
    this.span = span;
    try {
      localStorage.setItem(SPAN_KEY, span);
    } catch {
      // not remembered: fine
    }
    this.pressed();
    this.load();
  }

  pressed() {
    for (const button of this.buttons) button.setAttribute("aria-pressed", String(button.dataset.span === this.span));
  }

  async load() {
    const span = this.span;
    let body;
    try {
      body = await this.call(`/api/v1/account/portfolio-history?interval=${span}`);
    } catch (error) {
      if (error.status !== 401) this.report("equity", `Cannot load your equity history: ${error.message}`);
      return;
    }
    if (span !== this.span) return; // another span was chosen meanwhile
    this.report("equity", null);
    this.render(body.points, span);
  }

  render(points, span) {
    const said = summary(points, span);
    const line = byId("equity-summary");
    setText(line, said.text);
    if (said.tone) line.dataset.tone = said.tone;
    else delete line.dataset.tone;
    this.box.dataset.points = String(points.length);
    this.box.dataset.span = span;
    if (this.series === null) {
      const missing = "The chart library is not installed on this server";
      setText(this.note, points.length ? `${missing}: the latest figure is above.` : `${missing}.`);
      show(this.note, true);
      return;
    }
    setText(this.note, "Nothing to draw yet.");
    show(this.note, points.length === 0);
    // Drawing only: the line's coordinates are numbers; the words above are exact.
    this.series.setData(points.map((point) => ({ time: Date.parse(point.time) / 1000, value: Number(point.equity) })));
    this.chart.timeScale().fitContent();
  }
}
