// The candlestick chart: TradingView's lightweight-charts (installed from npm by
// `make install`), fed by GET /api/v1/candles and moved live by each quote's mid price,
// with an OHLC legend under the pointer, lines at the entry, take profit, stop loss and
// liquidation price (and the trailing stop's level, moved by each quote) of each open
// position in the asset shown, and a line at the price of each pending limit or stop order
// in it. The take profit and stop loss lines can be dragged (position_lines.js): the line
// dragged is held where the pointer left it until its owner confirms or cancels.
//
// Chart coordinates are JS numbers: that is drawing, not money. What the legend and the
// line descriptions say comes from the exact ticks (BigInt), like every price on the page.

import { api } from "./api.js";
import { el, setText, show } from "./dom.js";
import { axisPrice, priceText, sideLabel } from "./format.js";
import { divRoundHalfEven, formatScaled, parseScaled } from "./money.js";
import { typeLabel } from "./order_type.js";
import { trailedLevel } from "./position_math.js";
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

/** How each kind of position line looks (lightweight-charts line styles: 0 solid, 1 dotted,
 * 2 dashed). The price scale stretches to show entries, TPs and SLs, not liquidations: at
 * low leverage they lie so far away that the candles would flatten into a line (the words
 * above the chart always give every level). */
const LINES = {
  entry: { color: "#5b9dff", lineStyle: 0, words: "opened at", autoscale: true },
  takeProfit: { color: "#1fb58f", lineStyle: 2, title: "TP", words: "take profit", autoscale: true },
  stopLoss: { color: "#f0506e", lineStyle: 2, title: "SL", words: "stop loss", autoscale: true },
  trailing: { color: "#ff8c5a", lineStyle: 1, title: "Trailing SL", words: "trailing stop", autoscale: true },
  liquidation: { color: "#e8a33d", lineStyle: 1, title: "Liq.", words: "liquidation", autoscale: false },
  limit: { color: "#b18cff", lineStyle: 3, words: "waits at", autoscale: true },
  stop: { color: "#4fd1e8", lineStyle: 3, words: "waits at", autoscale: true },
};

/** The position lines a user can drag to change them. */
export const LINES_DRAGGABLE = new Set(["takeProfit", "stopLoss"]);

/** A stored candle's decimal strings as exact ticks. */
function candleTicks(candle, decimals) {
  const ticks = (text) => parseScaled(text, decimals, "candle", { allowZero: true });
  return { open: ticks(candle.open), high: ticks(candle.high), low: ticks(candle.low), close: ticks(candle.close) };
}

export class PriceChart {
  /**
   * @param {object} parts  box: holds the chart; note: its messages; legend: the OHLC
   *   line; lines: every position line in words
   */
  constructor({ box, note, legend, lines }, onError) {
    this.box = box;
    this.note = note;
    this.legend = legend;
    this.linesText = lines;
    this.onError = onError;
    this.series = null;
    this.chart = null;
    this.asset = null;
    this.interval = "1m";
    this.decimals = 0;
    /** Exact ticks of each candle shown, by time: what the legend reads. */
    this.bars = new Map();
    this.last = null;
    this.positions = [];
    this.pending = [];
    this.priceLines = [];
    this.levels = [];
    /** The line being dragged or waiting for confirmation: {orderId, kind, ticks}. */
    this.held = null;
    /** Each trailing stop's level as the quotes since the last load moved it, by order id. */
    this.trailed = new Map();
    /** The price range last fitted, and the one kept while a line is dragged. */
    this.range = null;
    this.frozen = null;
    this.hovered = undefined;
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
      autoscaleInfoProvider: (original) => this.autoscale(original()),
    });
    this.chart.subscribeCrosshairMove((param) => {
      this.hovered = param.time;
      this.showLegend(param.time);
    });
    this.box.dataset.chart = "ready";
    this.timer = setInterval(() => this.reload(), RELOAD_MS);
  }

  stop() {
    clearInterval(this.timer);
    if (this.chart !== null) this.chart.remove();
    this.chart = null;
    this.series = null;
    this.priceLines = [];
  }

  /** Show `asset` at `interval` (decimals: the instrument's price decimals). */
  async show(asset, interval, decimals) {
    this.asset = asset;
    this.interval = interval;
    this.decimals = decimals;
    this.drawLines();
    if (this.series === null) return;
    const minMove = Number(`1e-${decimals}`);
    this.series.applyOptions({ priceFormat: { type: "price", precision: decimals, minMove } });
    this.chart.applyOptions({ localization: { priceFormatter: (value) => axisPrice(value, decimals) } });
    await this.reload();
  }

  /** The open positions (parsed, every asset): their lines follow. */
  setPositions(positions) {
    this.positions = positions;
    this.trailed = new Map();
    this.drawLines();
  }

  /** Hold the `kind` line of position `orderId` at `ticks` (while dragged, or until the
   * change is confirmed); `release()` puts it back where the position has it. */
  hold(orderId, kind, ticks) {
    this.held = { orderId, kind, ticks };
    this.drawLines();
  }

  release() {
    this.held = null;
    this.drawLines();
  }

  /** A chart coordinate as a price in exact ticks (null off the scale). */
  priceAt(y) {
    if (this.series === null) return null;
    const value = this.series.coordinateToPrice(y);
    if (value === null || !Number.isFinite(value) || value <= 0) return null;
    return parseScaled(value.toFixed(this.decimals), this.decimals, "price", { allowZero: true });
  }

  /** The chart coordinate of a price line's value (null off the scale). */
  coordinateOf(value) {
    return this.series === null ? null : this.series.priceToCoordinate(value);
  }

  /** The pending orders (parsed, every asset): a line at each one's price follows. */
  setPendingOrders(orders) {
    this.pending = orders;
    this.drawLines();
  }

  /** The line and the words of each pending order in the asset shown. */
  pendingLevels(levels, described) {
    let count = 0;
    for (const order of this.pending.filter((pending) => pending.asset === this.asset)) {
      const name = typeLabel(order.side, order.type);
      const ticks = parseScaled(order.priceText, this.decimals, order.type);
      levels.push({ kind: order.type, orderId: order.orderId, title: `${name} ${order.qty}`, value: Number(formatScaled(ticks, this.decimals)) });
      described.push(`${name.toLowerCase()} ${order.qty} ${symbolLabel(order.asset)} ${LINES[order.type].words} ${priceText(ticks, this.decimals)}`);
      count += 1;
    }
    this.box.dataset.pendingLines = String(count);
  }

  /** One line per level of each open position in the asset shown, and the same in words. */
  drawLines() {
    const mine = this.positions.filter((position) => position.asset === this.asset);
    const levels = [];
    const described = [];
    for (const position of mine) {
      const side = sideLabel(position.side);
      const prices = {
        entry: position.openPrice,
        takeProfit: position.takeProfit,
        stopLoss: position.stopLoss,
        trailing: position.trailingStopPrice,
        liquidation: position.liquidationPrice,
      };
      const words = [];
      for (const [kind, text] of Object.entries(prices)) {
        const held = this.held?.orderId === position.orderId && this.held.kind === kind ? this.held.ticks : null;
        if (text == null && held === null) continue;
        let ticks = held ?? parseScaled(text, this.decimals, kind, { allowZero: true });
        if (kind === "trailing" && this.trailed.has(position.orderId)) ticks = this.trailed.get(position.orderId);
        levels.push({ kind, orderId: position.orderId, position, ticks, title: this.lineTitle(kind, position, ticks), value: Number(formatScaled(ticks, this.decimals)) });
        if (text != null) {
          const said = held === null ? ticks : parseScaled(text, this.decimals, kind, { allowZero: true });
          words.push(`${LINES[kind].words} ${priceText(said, this.decimals)}`);
        }
      }
      described.push(`${side.toLowerCase()} ${position.qty} ${symbolLabel(position.asset)}: ${words.join(", ")}`);
    }
    this.pendingLevels(levels, described);
    this.levels = levels;
    setText(this.linesText, described.length ? `Lines: ${described.join("; ")}.` : "");
    show(this.linesText, described.length > 0);
    this.box.dataset.lines = String(levels.length);
    if (this.series === null) return;
    for (const line of this.priceLines) this.series.removePriceLine(line);
    this.priceLines = levels.map(({ kind, title, value, orderId }) => {
      const held = this.held?.orderId === orderId && this.held.kind === kind;
      return this.series.createPriceLine({
        price: value, title, color: LINES[kind].color, lineStyle: held ? 0 : LINES[kind].lineStyle,
        lineWidth: held ? 2 : 1, axisLabelVisible: true,
      });
    });
  }

  /** "TP 101,000.0", "SL 94,500.0", "Liq. 86,000.0"; the entry: "Long 0.01000". */
  lineTitle(kind, position, ticks) {
    if (kind === "entry") return `${sideLabel(position.side)} ${position.qty}`;
    return `${LINES[kind].title} ${priceText(ticks, this.decimals)}`;
  }

  /**
   * Move the trailing stops' lines with a quote: a buy's level is the highest bid since it
   * was set minus its distance, a sell's the lowest ask plus it, so it only ever moves in
   * the position's favour (the engine's rule; the next load brings the engine's level).
   */
  trail(asset, bid, ask) {
    let moved = false;
    for (const position of this.positions) {
      if (position.asset !== asset || position.trailDistance == null || position.trailTicks == null) continue;
      const known = this.trailed.get(position.orderId) ?? position.trailTicks;
      const level = trailedLevel(position.side, known, position.trailDistance, { bid, ask });
      if (level !== known) {
        this.trailed.set(position.orderId, level);
        moved = true;
      }
    }
    if (moved && asset === this.asset) this.drawLines();
  }

  /** The price range the candles need, stretched to show the entries, TPs and SLs. */
  autoscale(original) {
    if (original === null) return null;
    if (this.frozen !== null) return { ...original, priceRange: { ...this.frozen } };
    let { minValue, maxValue } = original.priceRange;
    for (const { kind, value } of this.levels) {
      if (!LINES[kind].autoscale) continue;
      minValue = Math.min(minValue, value);
      maxValue = Math.max(maxValue, value);
    }
    this.range = { minValue, maxValue };
    return { ...original, priceRange: { minValue, maxValue } };
  }

  /** Keep the price scale as it is (while a line is dragged: a scale that refitted to the
   * moving line would move the price under the pointer), or let it fit again. */
  freezeScale(frozen) {
    this.frozen = frozen && this.range ? { ...this.range } : null;
  }

  /** "O 95,000.0  H 95,010.0  L 94,990.0  C 95,005.0" of the candle at `time` (the one
   * under the pointer), or of the latest one when the pointer is elsewhere. */
  showLegend(time) {
    const bar = (time === undefined ? null : this.bars.get(time)) ?? (this.last && this.bars.get(this.last.time));
    if (!bar) {
      setText(this.legend, "");
      return;
    }
    const f = (ticks) => priceText(ticks, this.decimals);
    setText(this.legend, `O ${f(bar.open)}  H ${f(bar.high)}  L ${f(bar.low)}  C ${f(bar.close)}`);
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
    this.bars = new Map(body.candles.map((candle) => [candle.time, candleTicks(candle, this.decimals)]));
    const bars = body.candles.map((candle) => ({
      time: candle.time,
      open: Number(candle.open),
      high: Number(candle.high),
      low: Number(candle.low),
      close: Number(candle.close),
    }));
    this.series.setData(bars);
    this.last = bars.length ? { ...bars[bars.length - 1] } : null;
    this.showLegend(this.hovered);
    this.box.dataset.candles = String(bars.length);
    if (bars.length === 0) this.say(`No recorded prices for ${symbolLabel(asset)} yet: candles appear as quotes arrive.`);
    else this.say("");
  }

  /**
   * Move the current candle with a quote's mid price: (bid + ask) / 2 rounded half to even
   * to the tick, as the recorded candles are (`ts`: the quote's ISO time).
   */
  onQuote(asset, bid, ask, ts) {
    this.trail(asset, bid, ask);
    if (this.series === null || asset !== this.asset) return;
    const width = INTERVAL_S[this.interval];
    const seconds = Math.floor(Date.parse(ts) / 1000);
    if (!Number.isFinite(seconds)) return;
    const time = seconds - (seconds % width);
    const mid = divRoundHalfEven(bid + ask, 2n);
    const last = this.last;
    if (last !== null && time < last.time) return; // late quote: the stored candles have it
    const exact = this.bars.get(time);
    if (last !== null && time === last.time && exact !== undefined) {
      exact.high = mid > exact.high ? mid : exact.high;
      exact.low = mid < exact.low ? mid : exact.low;
      exact.close = mid;
    } else {
      this.bars.set(time, { open: mid, high: mid, low: mid, close: mid });
    }
    const bar = this.bars.get(time);
    const drawn = (ticks) => Number(formatScaled(ticks, this.decimals));
    this.last = { time, open: drawn(bar.open), high: drawn(bar.high), low: drawn(bar.low), close: drawn(bar.close) };
    this.series.update({ ...this.last });
    this.showLegend(this.hovered);
    this.say("");
  }

  say(text) {
    setText(this.note, text);
    show(this.note, Boolean(text));
  }
}
