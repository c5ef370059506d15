// The candlestick chart: TradingView's lightweight-charts (installed from npm by
// `make install`), fed by GET /api/v1/candles and moved live by each quote's mid price.
//
// Chart coordinates are JS numbers: that is drawing, not money. Every figure the user
// reads as money or a price elsewhere on the page comes from the decimal strings.

import { api } from "./api.js";
import { el, setText, show } from "./dom.js";
import { symbolLabel } from "./symbols.js";

const LIBRARY_URL = "/static/vendor/lightweight-charts.standalone.production.js";
const INTERVAL_S = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600 };
const RELOAD_MS = 60000;

function loadLibrary() {
  if (window.LightweightCharts) return Promise.resolve(window.LightweightCharts);
  return new Promise((resolve, reject) => {
    const script = el("script", { src: LIBRARY_URL });
    script.addEventListener("load", () => resolve(window.LightweightCharts));
    script.addEventListener("error", () => reject(new Error("not installed")));
    document.head.append(script);
  });
}

export class PriceChart {
  /** @param {HTMLElement} box  holds the chart; @param {HTMLElement} note  its messages */
  constructor(box, note, onError) {
    this.box = box;
    this.note = note;
    this.onError = onError;
    this.series = null;
    this.chart = null;
    this.asset = null;
    this.interval = "1m";
    this.last = null;
    this.timer = null;
  }

  /** Create the chart if the library is there; otherwise say so and carry on without. */
  async start(available) {
    let library = null;
    if (available) {
      try {
        library = await loadLibrary();
      } catch {
        library = null;
      }
    }
    if (!library) {
      this.say(
        "The chart library is not installed on this server (run `make install` where npm is available). " +
          "Prices, orders and positions work without it.",
      );
      this.box.dataset.chart = "missing";
      return;
    }
    this.chart = library.createChart(this.box, {
      autoSize: true,
      layout: { background: { type: "solid", color: "#0f131b" }, textColor: "#8d97a8", fontSize: 11 },
      grid: { vertLines: { color: "#1a2130" }, horzLines: { color: "#1a2130" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#232b3b", rightOffset: 6, barSpacing: 10 },
      rightPriceScale: { borderColor: "#232b3b" },
      crosshair: { mode: 0 },
    });
    this.series = this.chart.addSeries(library.CandlestickSeries, {
      upColor: "#1fb58f", downColor: "#f0506e", borderVisible: false,
      wickUpColor: "#1fb58f", wickDownColor: "#f0506e",
    });
    this.box.dataset.chart = "ready";
    this.timer = setInterval(() => this.reload(), RELOAD_MS);
  }

  stop() {
    clearInterval(this.timer);
    if (this.chart !== null) this.chart.remove();
    this.chart = null;
    this.series = null;
  }

  /** Show `asset` at `interval` (decimals: the instrument's price decimals). */
  async show(asset, interval, decimals) {
    this.asset = asset;
    this.interval = interval;
    if (this.series === null) return;
    const minMove = Number(`1e-${decimals}`);
    this.series.applyOptions({ priceFormat: { type: "price", precision: decimals, minMove } });
    await this.reload();
  }

  async reload() {
    if (this.series === null || this.asset === null) return;
    const asset = this.asset;
    const interval = this.interval;
    let body;
    try {
      const query = new URLSearchParams({ asset, interval, limit: "500" });
      body = await api(`/api/v1/candles?${query}`);
    } catch (error) {
      this.onError(`Chart: ${error.message}`);
      return;
    }
    if (asset !== this.asset || interval !== this.interval) return; // switched meanwhile
    const bars = body.candles.map((candle) => ({
      time: candle.time,
      open: Number(candle.open),
      high: Number(candle.high),
      low: Number(candle.low),
      close: Number(candle.close),
    }));
    this.series.setData(bars);
    this.last = bars.length ? { ...bars[bars.length - 1] } : null;
    this.box.dataset.candles = String(bars.length);
    if (bars.length === 0) this.say(`No recorded prices for ${symbolLabel(asset)} yet: candles appear as quotes arrive.`);
    else this.say("");
  }

  /** Move the current candle with a quote's mid price (`ts`: the quote's ISO time). */
  onQuote(asset, mid, ts) {
    if (this.series === null || asset !== this.asset) return;
    const width = INTERVAL_S[this.interval];
    const seconds = Math.floor(Date.parse(ts) / 1000);
    if (!Number.isFinite(seconds)) return;
    const time = seconds - (seconds % width);
    const price = Number(mid);
    const last = this.last;
    if (last !== null && time < last.time) return; // late quote: the stored candles have it
    if (last !== null && time === last.time) {
      last.high = Math.max(last.high, price);
      last.low = Math.min(last.low, price);
      last.close = price;
    } else {
      this.last = { time, open: price, high: price, low: price, close: price };
    }
    this.series.update({ ...this.last });
    this.say("");
  }

  say(text) {
    setText(this.note, text);
    show(this.note, Boolean(text));
  }
}
