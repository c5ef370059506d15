// The order ticket: reads the form, previews the margin to lock and the liquidation price
// with the engine's exact formulas (BigInt), and sends the order.

import { byId, setText, show } from "./dom.js";
import { groupDigits, usd } from "./format.js";
import { InputError, formatScaled, openPriceFor, parseScaled } from "./money.js";
import { symbolLabel } from "./symbols.js";

const MAX_SLIPPAGE_BPS = 10000;

export class OrderTicket {
  /**
   * @param {object} context  instrument() -> {info, contract}; quote() -> quote or null;
   *   freeBalance() -> cents or null; submit(body) -> Promise of the opened order
   */
  constructor(context) {
    this.context = context;
    this.form = byId("ticket");
    this.leverage = byId("leverage");
    this.button = byId("ticket-submit");
    this.form.addEventListener("input", () => this.update());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
  }

  /** A new instrument: its leverage cap and quantity step. */
  setInstrument(instrument) {
    const { maxLeverage, qtyDecimals, symbol } = instrument.info;
    this.leverage.max = String(maxLeverage);
    if (Number(this.leverage.value) > maxLeverage) this.leverage.value = String(maxLeverage);
    setText(byId("qty-unit"), `(${symbol.split("_")[0]}, step ${formatScaled(1n, qtyDecimals)})`);
    this.update();
  }

  side() {
    return byId("side-sell").checked ? "sell" : "buy";
  }

  /** The order as typed, checked and scaled; throws InputError naming the field. */
  read() {
    const { info } = this.context.instrument();
    const optional = (id, field) => {
      const text = byId(id).value.trim();
      return text === "" ? null : parseScaled(text, info.priceDecimals, field);
    };
    const slippageText = byId("slippage").value.trim();
    let slippage = null;
    if (slippageText !== "") {
      if (!/^[0-9]+$/.test(slippageText) || Number(slippageText) > MAX_SLIPPAGE_BPS) {
        throw new InputError("slippage", `must be a whole number of basis points, 0 to ${MAX_SLIPPAGE_BPS}`);
      }
      slippage = Number(slippageText);
    }
    return {
      side: this.side(),
      qty: parseScaled(byId("qty").value, info.qtyDecimals, "qty"),
      leverage: Number(this.leverage.value),
      takeProfit: optional("take-profit", "takeProfit"),
      stopLoss: optional("stop-loss", "stopLoss"),
      slippage,
    };
  }

  /** Recompute the preview (on every keystroke and every quote). */
  update() {
    const side = this.side();
    const { info, contract } = this.context.instrument();
    setText(byId("leverage-value"), `${this.leverage.value}x`);
    setText(this.button, `${side === "buy" ? "Buy" : "Sell"} ${symbolLabel(info.symbol)}`);
    this.button.className = `primary ${side}`;
    const quote = this.context.quote();
    const price = quote ? openPriceFor(side, quote) : null;
    setText(byId("preview-price"), price === null ? "waiting for a live price" : groupDigits(formatScaled(price, info.priceDecimals)));
    let order = null;
    let note = "";
    try {
      order = this.read();
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      note = byId("qty").value.trim() === "" && error.field === "qty" ? "" : error.message;
    }
    let margin = null;
    if (order !== null && price !== null) {
      margin = contract.margin(price, order.qty, order.leverage);
      const liquidation = contract.liquidationPrice(side, price, order.qty, margin);
      setText(byId("preview-margin"), usd(margin));
      setText(byId("preview-liquidation"), groupDigits(formatScaled(liquidation, info.priceDecimals)));
    } else {
      setText(byId("preview-margin"), "—");
      setText(byId("preview-liquidation"), "—");
    }
    const free = this.context.freeBalance();
    const after = free !== null && margin !== null ? free - margin : null;
    const freeCell = byId("preview-free");
    setText(freeCell, after === null ? "—" : usd(after));
    freeCell.dataset.tone = after !== null && after < 0n ? "down" : "flat";
    if (!note && after !== null && after < 0n) note = "Not enough free balance for this margin.";
    setText(byId("ticket-note"), note);
    show(byId("ticket-note"), Boolean(note));
  }

  /** Check, send, and say in words what happened. */
  async send() {
    this.say("ticket-error", "");
    this.say("ticket-ok", "");
    const { info } = this.context.instrument();
    let order;
    try {
      order = this.read();
    } catch (error) {
      if (error instanceof InputError) return this.say("ticket-error", error.message);
      throw error;
    }
    const body = {
      asset: info.symbol,
      side: order.side,
      qty: formatScaled(order.qty, info.qtyDecimals),
      leverage: order.leverage,
    };
    if (order.takeProfit !== null) body.takeProfit = formatScaled(order.takeProfit, info.priceDecimals);
    if (order.stopLoss !== null) body.stopLoss = formatScaled(order.stopLoss, info.priceDecimals);
    if (order.slippage !== null) {
      const quote = this.context.quote();
      if (quote === null) {
        return this.say("ticket-error", "slippage: there is no live price to guard; leave it empty or wait for prices.");
      }
      body.price = formatScaled(openPriceFor(order.side, quote), info.priceDecimals);
      body.slippage = order.slippage;
    }
    this.button.disabled = true;
    try {
      const opened = await this.context.submit(body);
      const verb = opened.side === "buy" ? "Bought" : "Sold";
      this.say(
        "ticket-ok",
        `${verb} ${opened.qty} ${symbolLabel(opened.asset)} at ${groupDigits(opened.openPrice)}: ` +
          `$${groupDigits(opened.margin)} margin locked, liquidation at ${groupDigits(opened.liquidationPrice)}.`,
      );
    } catch (error) {
      this.say("ticket-error", `Order refused: ${error.message}`);
    } finally {
      this.button.disabled = false;
    }
  }

  /** Whether an order can be sent now: null, or the reason it cannot (shown under Buy/Sell). */
  setTradable(reason) {
    this.button.disabled = reason !== null;
    this.button.title = reason ?? "";
    this.say("ticket-blocked", reason ?? "");
  }

  say(id, text) {
    setText(byId(id), text);
    show(byId(id), Boolean(text));
  }
}
