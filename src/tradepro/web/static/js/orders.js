// The positions tables: open positions (live mark, PnL, return on margin, distance to the
// liquidation; buttons to edit the take profit and stop loss, close part or all) and history.
//
// Open rows are keyed by order id and updated in place on every quote, so a row (and its
// button) is never replaced under the user's pointer. Every cell carries its column's
// header as `data-label`: on a phone the stylesheet turns each row into a card that shows
// those labels, so the whole position (PnL and Close included) fits the screen's width.

import { el, headerLabels, setText, show } from "./dom.js";
import { groupDigits, priceText, reasonLabel, sideLabel, signedUsd, timeLabel, tone, usd } from "./format.js";
import { USD_DECIMALS, closePriceFor, formatScaled, parseScaled, parseSigned } from "./money.js";
import { liquidationDistance, percentText, pnlPercent, roePercent, trailedLevel } from "./position_math.js";
import { symbolLabel } from "./symbols.js";

/** An open order from the API with its numbers as scaled BigInts. */
export function parseOpenOrder(order, instrument) {
  const { priceDecimals, qtyDecimals } = instrument.info;
  return {
    ...order,
    qtyLots: parseScaled(order.qty, qtyDecimals, "qty"),
    openTicks: parseScaled(order.openPrice, priceDecimals, "openPrice"),
    marginCents: parseScaled(order.margin, USD_DECIMALS, "margin"),
    liquidationTicks: parseScaled(order.liquidationPrice, priceDecimals, "liquidationPrice", { allowZero: true }),
    trailDistance: order.trailingStop == null ? null : parseScaled(order.trailingStop, priceDecimals, "trailingStop"),
    trailTicks: order.trailingStopPrice == null ? null : parseScaled(order.trailingStopPrice, priceDecimals, "trailingStopPrice", { allowZero: true }),
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
  /**
   * @param actions  close(order, button): close all of it; closePart(order): the partial
   *   close dialog; editLevels(order): the take profit / stop loss form
   */
  constructor(body, empty, actions) {
    this.body = body;
    this.empty = empty;
    this.actions = actions;
    this.rows = new Map();
    this.labels = headerLabels(body.closest("table"));
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
      else {
        row.order = order;
        this.fill(row);
      }
    }
    show(this.empty, this.rows.size === 0);
  }

  addRow(order) {
    const [asset, side, opened, qty, lev, open, mark, liquidation, distance, levels, margin, pnl, returns] = this.labels;
    const cell = (label, text, props = {}) => el("td", { text, "data-label": label, ...props });
    const button = (text, testId) => el("button", { type: "button", class: "ghost small", text, "data-testid": testId });
    const row = {
      order,
      opened: cell(opened, "", { "data-testid": "opened" }),
      qty: cell(qty, "", { class: "num", "data-testid": "qty" }),
      mark: cell(mark, "—", { class: "num", "data-testid": "mark" }),
      liquidation: cell(liquidation, "", { class: "num", "data-testid": "liquidation-price" }),
      distance: cell(distance, "—", { class: "num", "data-testid": "liquidation-distance" }),
      levels: cell(levels, "", { class: "num muted", "data-testid": "levels" }),
      margin: cell(margin, "", { class: "num", "data-testid": "margin" }),
      pnl: cell(pnl, "—", { class: "num pnl", "data-testid": "pnl" }),
      returns: cell(returns, "—", { class: "num", "data-testid": "returns" }),
      edit: button("Edit TP/SL", "edit-levels"),
      part: button("Close part", "close-part"),
      button: button("Close", "close-order"),
      node: null,
    };
    row.edit.addEventListener("click", () => this.actions.editLevels(row.order));
    row.part.addEventListener("click", () => this.actions.closePart(row.order));
    row.button.addEventListener("click", () => this.actions.close(row.order, row.button));
    row.node = el(
      "tr",
      { "data-testid": "open-order", dataset: { orderId: order.orderId, asset: order.asset } },
      cell(asset, symbolLabel(order.asset), { class: "asset" }),
      cell(side, sideLabel(order.side), { class: `side-${order.side}` }),
      row.opened,
      row.qty,
      cell(lev, `${order.leverage}x`, { class: "num" }),
      cell(open, price(order.openPrice), { class: "num", "data-testid": "open-price" }),
      row.mark,
      row.liquidation,
      row.distance,
      row.levels,
      row.margin,
      row.pnl,
      row.returns,
      el("td", { class: "action" }, el("span", { class: "actions" }, row.edit, row.part, row.button)),
    );
    this.fill(row);
    this.body.append(row.node);
    return row;
  }

  /** The cells that change only when the position does (a modify, a partial close). */
  fill(row) {
    const order = row.order;
    const what = `${sideLabel(order.side).toLowerCase()} ${order.qty} ${symbolLabel(order.asset)} position`;
    setText(row.opened, timeLabel(order.createdAt));
    row.opened.title = order.createdAt;
    setText(row.qty, order.qty);
    setText(row.liquidation, price(order.liquidationPrice));
    row.trailTicks = order.trailTicks;
    this.showLevels(row, null);
    const commission = order.commission == null ? 0n : parseScaled(order.commission, USD_DECIMALS, "commission", { allowZero: true });
    if (commission > 0n) row.margin.replaceChildren(usd(order.marginCents), el("span", { class: "sub", "data-testid": "commission", text: `fee ${usd(commission)}` }));
    else setText(row.margin, usd(order.marginCents));
    row.margin.title = commission > 0n ? `Commission paid at open: ${usd(commission)}` : "";
    row.edit.setAttribute("aria-label", `Edit the take profit and stop loss of the ${what}`);
    row.part.setAttribute("aria-label", `Close part of the ${what}`);
    row.button.setAttribute("aria-label", `Close the ${what}`);
  }

  /** The take profit, stop loss and trailing stop's level (`decimals`: null before a quote). */
  showLevels(row, decimals) {
    const order = row.order;
    const levels = `${price(order.takeProfit)} / ${price(order.stopLoss)}`;
    if (row.trailTicks == null) {
      setText(row.levels, levels);
      return;
    }
    const level = decimals === null ? price(order.trailingStopPrice) : priceText(row.trailTicks, decimals);
    const words = `trailing ${level}`;
    const shown = row.levels.querySelector(".sub");
    if (shown !== null && row.levels.firstChild.textContent === levels) setText(shown, words);
    else row.levels.replaceChildren(levels, el("span", { class: "sub", "data-testid": "trailing-level", text: words }));
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
      if (quote != null && instrument) {
        const decimals = instrument.info.priceDecimals;
        const ticks = closePriceFor(order.side, quote);
        setText(row.mark, groupDigits(formatScaled(ticks, decimals)));
        const move = order.side === "buy" ? ticks - order.openTicks : order.openTicks - ticks;
        exact.set(order.asset, (exact.get(order.asset) ?? 0n) + move * order.qtyLots);
        const away = liquidationDistance(order.side, ticks, order.liquidationTicks);
        setText(row.distance, `${priceText(away.ticks, decimals)} (${percentText(away.percent)})`);
        if (row.trailTicks != null && order.trailDistance != null) {
          row.trailTicks = trailedLevel(order.side, row.trailTicks, order.trailDistance, quote);
          this.showLevels(row, decimals);
        }
      }
      const pnl = instrument ? livePnl(order, instrument, quote) : order.restPnl;
      setText(row.pnl, pnl == null ? "no price" : signedUsd(pnl));
      row.pnl.dataset.tone = pnl == null ? "flat" : tone(pnl);
      if (pnl == null || !instrument) setText(row.returns, "—");
      else {
        const roe = percentText(roePercent(order, pnl), { signed: true });
        const move = percentText(pnlPercent(instrument.contract, order, pnl), { signed: true });
        setText(row.returns, `${roe} / ${move}`);
        row.returns.dataset.tone = tone(pnl);
      }
      if (quote == null) total += pnl ?? 0n;
    }
    for (const [asset, amount] of exact) total += instruments.get(asset).contract.cents(amount);
    return total;
  }
}

/** Show `orders` (closed, newest first) as the rows of `body`'s table. */
export function renderClosedOrders(body, empty, orders) {
  const [closed, asset, side, qty, lev, open, close, pnl, reason] = headerLabels(body.closest("table"));
  const cell = (label, text, props = {}) => el("td", { text, "data-label": label, ...props });
  const rows = orders.map((order) => {
    const result = parseSigned(order.pnl, USD_DECIMALS, "pnl");
    return el(
      "tr",
      { "data-testid": "closed-order", dataset: { orderId: order.orderId, tradeId: order.tradeId ?? order.orderId, reason: order.reason } },
      cell(closed, timeLabel(order.closedAt), { title: order.closedAt }),
      cell(asset, symbolLabel(order.asset), { class: "asset" }),
      cell(side, sideLabel(order.side), { class: `side-${order.side}` }),
      cell(qty, order.qty, { class: "num" }),
      cell(lev, `${order.leverage}x`, { class: "num" }),
      cell(open, groupDigits(order.openPrice), { class: "num" }),
      cell(close, groupDigits(order.closePrice), { class: "num" }),
      cell(pnl, signedUsd(result), { class: "num pnl", "data-testid": "pnl", dataset: { tone: tone(result) } }),
      cell(reason, reasonLabel(order.reason) + (order.liquidated ? " (liquidated)" : ""), { "data-testid": "reason" }),
    );
  });
  body.replaceChildren(...rows);
  show(empty, rows.length === 0);
}
