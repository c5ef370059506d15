// Editing a pending order (amend): its price, quantity, take profit, stop loss and expiry,
// in a dialog filled with the order as it is. The server checks and reserves it again as if
// it were placed now, so the dialog checks what the ticket checks (the price on the waiting
// side of the market, the levels on the right side of the price, the steps, an expiry in
// the future) and previews the margin to reserve and the liquidation price at the new
// price. Only what changed is sent.

import { byId, setText, show } from "./dom.js";
import { priceText, usd } from "./format.js";
import { InputError, formatScaled, parseScaled } from "./money.js";
import { expiryWords, localInputValue, parseExpiry, placementProblem, priceField, triggerHint, typeLabel } from "./order_type.js";
import { orderWords } from "./pending.js";
import { symbolLabel } from "./symbols.js";
import { inputWords, refusalWords, wrongSideWords } from "./ticket_words.js";

/** Each field of the dialog: its input, its error line, and the API's name for it. */
const FIELDS = {
  price: { input: "amend-price", error: "amend-price-error" },
  qty: { input: "amend-qty", error: "amend-qty-error" },
  takeProfit: { input: "amend-take-profit", error: "amend-take-profit-error" },
  stopLoss: { input: "amend-stop-loss", error: "amend-stop-loss-error" },
  expiresAt: { input: "amend-expires-at", error: "amend-expires-at-error" },
};
const CHECKED = ["price", "qty", "takeProfit", "stopLoss", "expiresAt"];

const capitalised = (text) => text.charAt(0).toUpperCase() + text.slice(1);

export class AmendDialog {
  /**
   * @param {object} context  instruments: Map symbol -> {info, contract}; quote(asset) ->
   *   quote or null; freeBalance() -> cents or null; amend(body) -> Promise of the order
   */
  constructor(context) {
    this.context = context;
    this.dialog = byId("amend");
    this.template = byId("amend-template");
    this.saveButton = null;
    this.order = null;
    this.sending = false;
    this.dialog.addEventListener("close", () => {
      this.order = null;
      this.dialog.replaceChildren();
    });
  }

  /** Put a fresh copy of the form in the dialog (its fields exist only while it is open,
   * so they never stand beside the ticket's fields of the same names). */
  build() {
    this.dialog.replaceChildren(this.template.content.cloneNode(true));
    const form = byId("amend-form");
    form.addEventListener("input", (event) => this.edited(event.target.name));
    form.addEventListener("change", (event) => this.left(event.target.name));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    byId("amend-discard").addEventListener("click", () => this.close());
    this.saveButton = byId("amend-save");
  }

  input(field) {
    return byId(FIELDS[field].input);
  }

  text(field) {
    return this.input(field).value.trim();
  }

  instrument() {
    return this.context.instruments.get(this.order.asset);
  }

  /** Open the dialog on `order` (a parsed pending order). */
  open(order) {
    if (this.dialog.open) this.close();
    this.build();
    this.order = order;
    this.ended = false;
    const { info } = this.instrument();
    setText(byId("amend-title"), `Edit ${typeLabel(order.side, order.type).toLowerCase()} · ${symbolLabel(order.asset)}`);
    setText(byId("amend-what"), `${capitalised(orderWords(order))}, ${order.leverage}x.`);
    setText(byId("amend-price-name"), `${capitalised(order.type)} price`);
    setText(byId("amend-price-hint"), triggerHint(order.side, order.type));
    setText(byId("amend-qty-unit"), `(${info.symbol.split("_")[0]}, step ${formatScaled(1n, info.qtyDecimals)})`);
    this.input("price").value = order.priceText;
    this.input("qty").value = order.qty;
    this.input("takeProfit").value = order.takeProfit ?? "";
    this.input("stopLoss").value = order.stopLoss ?? "";
    this.input("expiresAt").value = this.expiryBefore();
    this.input("expiresAt").min = localInputValue(Date.now());
    for (const field of CHECKED) this.showError(field, "");
    this.say("amend-error", "");
    this.update();
    this.dialog.showModal();
    this.input("price").focus();
  }

  /** The order's expiry as the field shows it ("" for none). */
  expiryBefore() {
    const { expiresAt } = this.order;
    return expiresAt == null ? "" : localInputValue(Date.parse(expiresAt));
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  /** The order was filled, cancelled or expired meanwhile: the dialog says so. */
  gone(orderId) {
    if (this.order === null || this.order.orderId !== orderId) return;
    this.say("amend-error", "This order is no longer pending: it has filled, expired or been cancelled.");
    this.ended = true;
    this.saveButton.disabled = true;
  }

  // -- reading ------------------------------------------------------------------------------

  parse(field) {
    const { info } = this.instrument();
    const text = this.text(field);
    switch (field) {
      case "price":
        return parseScaled(text, info.priceDecimals, "orderPrice");
      case "qty":
        return parseScaled(text, info.qtyDecimals, "qty");
      case "takeProfit":
      case "stopLoss":
        return text === "" ? null : parseScaled(text, info.priceDecimals, field);
      case "expiresAt":
        return parseExpiry(text);
      default:
        throw new Error(`the editor has no field ${field}`);
    }
  }

  peek(field) {
    try {
      return this.parse(field);
    } catch (error) {
      if (error instanceof InputError) return null;
      throw error;
    }
  }

  problem(field) {
    const { info } = this.instrument();
    const { side, type } = this.order;
    let value;
    try {
      value = this.parse(field);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      if (field === "expiresAt") return expiryWords(error);
      if (field === "price" && error.code === "required") return `Enter the ${type} price: the order waits for it.`;
      const decimals = field === "qty" ? info.qtyDecimals : info.priceDecimals;
      return inputWords(error, { decimals, unit: info.symbol.split("_")[0], text: this.text(field) });
    }
    if (field === "price") return placementProblem(side, type, value, this.context.quote(this.order.asset), info.priceDecimals);
    const at = this.peek("price");
    if ((field === "takeProfit" || field === "stopLoss") && value !== null && at !== null) {
      const above = (field === "takeProfit") === (side === "buy");
      if (above ? value <= at : value >= at) {
        return wrongSideWords(field, side, `${priceText(at, info.priceDecimals)}, the ${type} price`);
      }
    }
    return "";
  }

  // -- events ---------------------------------------------------------------------------------

  edited(field) {
    if (!(field in FIELDS)) return;
    this.showError(field, "");
    if (field === "price") for (const level of ["takeProfit", "stopLoss"]) this.showError(level, "");
    this.say("amend-error", "");
    this.update();
  }

  left(field) {
    if (!(field in FIELDS)) return;
    this.showError(field, this.problem(field));
  }

  /** The margin the order would reserve, and its liquidation price, at the new figures. */
  update() {
    if (this.order === null) return;
    const { info, contract } = this.instrument();
    const at = this.peek("price");
    const qty = this.peek("qty");
    if (at === null || qty === null) {
      setText(byId("amend-margin"), "—");
      setText(byId("amend-liquidation"), "—");
      return;
    }
    const margin = contract.margin(at, qty, this.order.leverage);
    const liquidation = contract.liquidationPrice(this.order.side, at, qty, margin);
    setText(byId("amend-margin"), usd(margin));
    setText(byId("amend-liquidation"), priceText(liquidation, info.priceDecimals));
  }

  // -- saving -----------------------------------------------------------------------------------

  /** What changed, as the amend-order body; null when nothing did. */
  changes() {
    const { info } = this.instrument();
    const order = this.order;
    const body = { orderId: order.orderId };
    const priceNow = formatScaled(this.parse("price"), info.priceDecimals);
    if (this.parse("price") !== order.priceTicks) body[priceField(order.type)] = priceNow;
    if (this.parse("qty") !== order.qtyLots) body.qty = formatScaled(this.parse("qty"), info.qtyDecimals);
    for (const level of ["takeProfit", "stopLoss"]) {
      const value = this.parse(level);
      const before = order[level] == null ? null : parseScaled(order[level], info.priceDecimals, level);
      if (value !== before) body[level] = value === null ? null : formatScaled(value, info.priceDecimals);
    }
    if (this.text("expiresAt") !== this.expiryBefore()) body.expiresAt = this.parse("expiresAt");
    return Object.keys(body).length === 1 ? null : body;
  }

  async save() {
    if (this.order === null || this.sending || this.ended) return;
    this.say("amend-error", "");
    let first = null;
    for (const field of CHECKED) {
      // An expiry left as it was is not sent, so not checked: the order keeps it.
      if (field === "expiresAt" && this.text(field) === this.expiryBefore()) continue;
      const problem = this.problem(field);
      this.showError(field, problem);
      if (problem && first === null) first = field;
    }
    if (first !== null) {
      this.input(first).focus();
      return;
    }
    const body = this.changes();
    if (body === null) {
      this.say("amend-error", "Nothing has changed: change a field, or keep the order as it is.");
      return;
    }
    const order = this.order;
    this.sending = true;
    this.saveButton.disabled = true;
    setText(this.saveButton, "Saving…");
    try {
      await this.context.amend(body, order);
      this.close();
    } catch (error) {
      this.refused(error, order);
    } finally {
      this.sending = false;
      if (this.order === order && !this.ended) {
        this.saveButton.disabled = false;
        setText(this.saveButton, "Save changes");
      }
    }
  }

  refused(error, order) {
    if (error.error === "order_not_found") {
      this.gone(order.orderId);
      return;
    }
    const { info } = this.instrument();
    const { field, text } = refusalWords(error, {
      side: order.side,
      type: order.type,
      asset: symbolLabel(order.asset),
      decimalsOf: (name) => (name === "qty" ? info.qtyDecimals : info.priceDecimals),
      unitOf: () => info.symbol.split("_")[0],
      staleAfterS: this.context.staleAfterS,
    });
    const mine = field === "limitPrice" || field === "stopPrice" ? "price" : field;
    // The ticket's words say "Order refused"; here nothing was placed, the order stays.
    const words = text.replace(/^Order refused: /, "Not changed: ").replace(/^The order was not placed: /, "Not changed: ");
    if (mine !== null && mine in FIELDS) this.showError(mine, words);
    else this.say("amend-error", words);
  }

  showError(field, text) {
    this.say(FIELDS[field].error, text);
    const input = this.input(field);
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  say(id, text) {
    setText(byId(id), text);
    show(byId(id), Boolean(text));
  }
}
