// The order ticket: reads the form, previews the margin to lock, the liquidation price and
// the loss and profit at the stop loss and take profit with the engine's exact formulas
// (BigInt), sizes a position by risk, and sends the order: a market order, or a limit or
// stop order that waits for its price (previewed at that price; order_type.js).
//
// What is wrong is said once, in plain words, next to the field it is about: checked when
// a field is left and when the order is sent, cleared as soon as that field changes. The
// server's refusals are put into the same words and places (ticket_words.js). Warnings
// (a stop loss the margin call would beat, a margin above the free balance) never block.

import { byId, setText, show } from "./dom.js";
import { groupDigits, priceText, signedUsd, tone, usd } from "./format.js";
import { InputError, formatScaled, openPriceFor, parseScaled, percentOf } from "./money.js";
import { RISK_DECIMALS, isRiskPercent, isSlippage, loadTicket, saveTicket } from "./saved.js";
import { previewOrder, shareOfEquity } from "./ticket_preview.js";
import { inputWords, refusalWords, wrongSideWords } from "./ticket_words.js";
import {
  expiryLabel, expiryWords, isPending, localInputValue, parseExpiry, placementProblem, priceField, triggerHint,
  typeLabel,
} from "./order_type.js";
import { symbolLabel } from "./symbols.js";

/** Each field of the ticket: its input and where its error goes. */
const FIELDS = {
  qty: { input: "qty", error: "qty-error" },
  leverage: { input: "leverage", error: "leverage-error" },
  takeProfit: { input: "take-profit", error: "take-profit-error" },
  stopLoss: { input: "stop-loss", error: "stop-loss-error" },
  slippage: { input: "slippage", error: "slippage-error" },
  riskPercent: { input: "risk-percent", error: "risk-percent-error" },
  orderPrice: { input: "order-price", error: "order-price-error" },
  expiresAt: { input: "expires-at", error: "expires-at-error" },
};
/** Prices and sizes differ per market: they are kept per asset, the rest for all. */
const PER_ASSET = ["qty", "takeProfit", "stopLoss", "orderPrice"];
const TYPED = ["qty", "takeProfit", "stopLoss", "slippage", "riskPercent", "orderPrice", "expiresAt"];
/** What a market order checks before it is sent, and what a limit or stop order checks (its
 * price first: its take profit and stop loss are checked against it). */
const CHECKED_MARKET = ["qty", "takeProfit", "stopLoss", "slippage"];
const CHECKED_PENDING = ["orderPrice", "qty", "takeProfit", "stopLoss", "expiresAt"];

/** "BTC" of "BTC_USDC": the unit a quantity is counted in. */
const baseUnit = (symbol) => symbol.split("_")[0];

export class OrderTicket {
  /**
   * @param {object} context  instruments: Map symbol -> {info, contract};
   *   instrument() -> {info, contract}; quote() -> quote or null; freeBalance() and
   *   equity() -> cents or null; staleAfterS; submit(body) -> Promise of the opened order
   */
  constructor(context) {
    this.context = context;
    this.form = byId("ticket");
    this.leverage = byId("leverage");
    this.button = byId("ticket-submit");
    /** Why no order can be sent now (no fresh price), or null: set by setTradable. */
    this.blocked = null;
    this.sending = false;
    this.saved = loadTicket(context.instruments);
    this.asset = null;
    /** Fields whose value is settled (left, restored or set by the sizer): warnings show. */
    this.settled = new Set();
    this.restoreShared();
    this.form.addEventListener("input", (event) => this.edited(event.target.name));
    this.form.addEventListener("change", (event) => this.left(event.target.name));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    byId("size-by-risk").addEventListener("click", () => this.sizeByRisk());
    // Enter in the sizer's field sizes; it must not send the order like Enter elsewhere.
    this.input("riskPercent").addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      this.sizeByRisk();
    });
  }

  input(field) {
    return byId(FIELDS[field].input);
  }

  text(field) {
    return this.input(field).value.trim();
  }

  /** Side, leverage, slippage and the sizer's percentage, as saved. */
  restoreShared() {
    const { side, leverage, slippage, riskPercent } = this.saved;
    if (side !== undefined) byId(side === "sell" ? "side-sell" : "side-buy").checked = true;
    if (leverage !== undefined) this.leverage.value = String(leverage);
    if (slippage !== undefined) this.input("slippage").value = slippage;
    if (riskPercent !== undefined) this.input("riskPercent").value = riskPercent;
    for (const field of ["slippage", "riskPercent"]) if (this.text(field)) this.settled.add(field);
  }

  /** A new instrument: its leverage cap, its step, its saved values; no old messages. */
  setInstrument(instrument) {
    if (this.asset !== null) this.save();
    const { maxLeverage, qtyDecimals, symbol } = instrument.info;
    this.asset = symbol;
    this.leverage.max = String(maxLeverage);
    if (Number(this.leverage.value) > maxLeverage) this.leverage.value = String(maxLeverage);
    setText(byId("qty-unit"), `(${baseUnit(symbol)}, step ${formatScaled(1n, qtyDecimals)})`);
    const values = this.saved.perAsset[symbol] ?? {};
    for (const field of PER_ASSET) {
      this.input(field).value = values[field] ?? "";
      if (this.input(field).value) this.settled.add(field);
      else this.settled.delete(field);
    }
    for (const field of Object.keys(FIELDS)) this.showError(field, "");
    this.say("ticket-error", "");
    this.say("ticket-ok", "");
    this.update();
  }

  side() {
    return byId("side-sell").checked ? "sell" : "buy";
  }

  /** "market", "limit" or "stop". */
  type() {
    if (byId("type-limit").checked) return "limit";
    if (byId("type-stop").checked) return "stop";
    return "market";
  }

  /** The price the order opens at: the ask (buy) or bid (sell) now for a market order, the
   * order's own price for a limit or stop order (where its margin is reserved); or null. */
  entry() {
    if (isPending(this.type())) return this.peek("orderPrice");
    return this.market();
  }

  /** The price a market order would open at now (ask for a buy, bid for a sell), or null. */
  market() {
    const quote = this.context.quote();
    return quote ? openPriceFor(this.side(), quote) : null;
  }

  /** Where the levels are measured from, in words: "95,010.0 now", "94,000.0, the limit price". */
  entryWords(entry) {
    const { info } = this.context.instrument();
    const type = this.type();
    const text = priceText(entry, info.priceDecimals);
    return isPending(type) ? `${text}, the ${type} price` : `${text} now`;
  }

  // -- reading the fields ----------------------------------------------------------------

  /** `field` as a scaled integer (null: an optional field left empty); throws InputError. */
  parse(field) {
    const { info } = this.context.instrument();
    const text = this.text(field);
    switch (field) {
      case "qty":
        return parseScaled(text, info.qtyDecimals, "qty");
      case "takeProfit":
      case "stopLoss":
        return text === "" ? null : parseScaled(text, info.priceDecimals, field);
      case "slippage":
        if (!isSlippage(text)) throw new InputError(field, "bps", "must be 0..10000 basis points");
        return text === "" ? null : BigInt(text);
      case "orderPrice":
        return parseScaled(text, info.priceDecimals, field);
      case "expiresAt":
        return parseExpiry(text);
      case "riskPercent": {
        if (text === "") return null;
        const hundredths = parseScaled(text, RISK_DECIMALS, field);
        if (!isRiskPercent(text)) throw new InputError(field, "over_100", "must be at most 100");
        return hundredths;
      }
      default:
        throw new Error(`the ticket has no typed field ${field}`);
    }
  }

  /** `field`'s value, or null when it is empty or not valid (for the live preview). */
  peek(field) {
    try {
      return this.parse(field);
    } catch (error) {
      if (error instanceof InputError) return null;
      throw error;
    }
  }

  /** What is wrong with `field` in words, or "" (a level is checked against `entry`). */
  problem(field) {
    let value;
    try {
      value = this.parse(field);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      const { info } = this.context.instrument();
      if (field === "expiresAt") return expiryWords(error);
      if (field === "orderPrice" && error.code === "required") {
        return `Enter the ${this.type()} price: the order waits for it.`;
      }
      const decimals = field === "qty" ? info.qtyDecimals : field === "riskPercent" ? RISK_DECIMALS : info.priceDecimals;
      return inputWords(error, { decimals, unit: baseUnit(info.symbol), text: this.text(field) });
    }
    if (field === "orderPrice") {
      const { info } = this.context.instrument();
      return placementProblem(this.side(), this.type(), value, this.context.quote(), info.priceDecimals);
    }
    const entry = this.entry();
    if ((field === "takeProfit" || field === "stopLoss") && value !== null && entry !== null) {
      if (!this.onRightSide(field, value, entry)) return wrongSideWords(field, this.side(), this.entryWords(entry));
    }
    return "";
  }

  /** A buy's take profit lies above the entry and its stop loss below; a sell's the reverse. */
  onRightSide(field, level, entry) {
    const above = (field === "takeProfit") === (this.side() === "buy");
    return above ? level > entry : level < entry;
  }

  // -- events ------------------------------------------------------------------------------

  /** A keystroke or a click in `field`: its old error goes, and the preview follows. */
  edited(field) {
    // The levels are checked against the entry, the order's price against the market: a
    // change of side, type or price makes their old messages wrong.
    if (field === "side" || field === "orderType" || field === "orderPrice") {
      for (const level of ["takeProfit", "stopLoss", "orderPrice"]) this.showError(level, "");
    }
    if (field === "orderType") this.showError("expiresAt", "");
    if (field in FIELDS) {
      this.showError(field, "");
      if (field !== "leverage") this.settled.delete(field);
    }
    this.say("ticket-error", "");
    this.save();
    this.update();
  }

  /** The user left `field` after changing it: check it. */
  left(field) {
    if (!TYPED.includes(field)) return;
    this.settled.add(field);
    if ((field === "qty" || field === "orderPrice") && this.text(field) === "") this.showError(field, ""); // not yet filled
    else this.showError(field, this.problem(field));
    this.update();
  }

  // -- the preview ---------------------------------------------------------------------------

  /** Recompute the preview (on every keystroke and every quote). */
  update() {
    const side = this.side();
    const { info, contract } = this.context.instrument();
    const decimals = info.priceDecimals;
    setText(byId("leverage-value"), `${this.leverage.value}x`);
    setText(this.button, `${typeLabel(side, this.type())} ${symbolLabel(info.symbol)}`);
    this.button.className = `primary ${side}`;
    this.showType();
    const entry = this.entry();
    const level = (field) => {
      const value = this.peek(field);
      return value === null || entry === null || !this.onRightSide(field, value, entry) ? null : value;
    };
    const order = {
      side, entry, qty: this.peek("qty"), leverage: Number(this.leverage.value),
      stop: level("stopLoss"), profit: level("takeProfit"),
    };
    const { margin, liquidation, freeAfter, loss, stopNeverFires, profit } = previewOrder(
      contract, order, this.context.freeBalance(),
    );
    const cell = (id, text, tone = "flat") => {
      setText(byId(id), text);
      byId(id).dataset.tone = tone;
    };
    const waiting = isPending(this.type()) ? `enter the ${this.type()} price` : "waiting for a live price";
    cell("preview-price", entry === null ? waiting : priceText(entry, decimals));
    cell("preview-margin", margin === null ? "—" : usd(margin));
    cell("preview-liquidation", liquidation === null ? "—" : priceText(liquidation, decimals));
    const short = freeAfter !== null && freeAfter < 0n;
    cell("preview-free", freeAfter === null ? "—" : usd(freeAfter), short ? "down" : "flat");
    cell("preview-risk", loss === null ? "—" : this.lossText(loss, stopNeverFires), loss === null ? "flat" : "down");
    cell("preview-reward", profit === null ? "—" : signedUsd(profit), profit === null ? "flat" : tone(profit));
    const where = liquidation === null ? "" : priceText(liquidation, decimals);
    const warning = `This stop loss can never fire: a margin call would close the position first, at ${where}.`;
    this.say("stop-loss-warning", stopNeverFires && this.settled.has("stopLoss") ? warning : "");
    const note = "Not enough free balance for this margin: lower the quantity or raise the leverage.";
    this.say("ticket-note", short && byId("ticket-error").hidden ? note : "");
  }

  /** Show the fields and the preview's words of the order type chosen. */
  showType() {
    const type = this.type();
    const pending = isPending(type);
    show(byId("pending-fields"), pending);
    show(byId("market-fields"), !pending);
    setText(byId("preview-price-name"), pending ? `${capitalised(type)} price` : "Price now");
    setText(byId("preview-margin-name"), pending ? "Margin to reserve" : "Margin to lock");
    setText(byId("preview-liquidation-name"), pending ? "Liquidation if filled there" : "Liquidation price");
    if (!pending) return;
    const side = this.side();
    const { info } = this.context.instrument();
    setText(byId("order-price-name"), `${capitalised(type)} price`);
    setText(byId("order-price-hint"), triggerHint(side, type));
    byId("expires-at").min = localInputValue(Date.now()); // the picker offers no past times
    const market = this.market();
    const watched = side === "buy" ? "ask" : "bid";
    setText(byId("order-price-market"), market === null ? "" : `(${watched} ${priceText(market, info.priceDecimals)} now)`);
  }

  /** "-$50.00 (1.00 % of equity)", or "-$9.04 at the margin call" for a stop that never fires. */
  lossText(loss, byMarginCall) {
    if (byMarginCall) return `${usd(-loss)} at the margin call`;
    const share = shareOfEquity(loss, this.context.equity());
    return share === null ? usd(-loss) : `${usd(-loss)} (${formatScaled(share, RISK_DECIMALS)} % of equity)`;
  }

  // -- the sizer -------------------------------------------------------------------------------

  /** Set the quantity whose loss at the stop loss is the given share of equity (or less:
   * rounded down to the instrument's step). */
  sizeByRisk() {
    const { info, contract } = this.context.instrument();
    const refuse = (text) => this.showError("riskPercent", text);
    this.settled.add("riskPercent");
    let problem = this.problem("riskPercent");
    if (problem) return refuse(problem);
    const hundredths = this.parse("riskPercent");
    if (hundredths === null) return refuse(inputWords({ field: "riskPercent", code: "required" }, {}));
    if (this.text("stopLoss") === "") {
      return refuse("Set a stop loss first: the sizer picks the quantity that loses this share of your equity there.");
    }
    problem = this.problem("stopLoss");
    if (problem) return this.showError("stopLoss", problem);
    const entry = this.entry();
    if (entry === null && isPending(this.type())) {
      return refuse(`Enter the ${this.type()} price first: the sizer needs the price the order opens at.`);
    }
    if (entry === null) return refuse("No live price yet: the sizer needs the price the order opens at.");
    const equity = this.context.equity();
    if (equity === null) return refuse("Your equity is not known yet: wait a moment, then try again.");
    if (equity <= 0n) return refuse("You have no equity to risk.");
    const budget = percentOf(equity, hundredths);
    const lots = contract.maxQtyForLoss(this.side(), entry, this.parse("stopLoss"), budget);
    if (lots === 0n) {
      const step = `${formatScaled(1n, info.qtyDecimals)} ${baseUnit(info.symbol)}`;
      return refuse(`${usd(budget)} is less than one step (${step}) would lose at this stop loss.`);
    }
    this.input("qty").value = formatScaled(lots, info.qtyDecimals);
    this.showError("riskPercent", "");
    this.showError("qty", "");
    this.settled.add("qty");
    this.save();
    this.update();
  }

  // -- sending -----------------------------------------------------------------------------------

  /** Check, send, and say in words what happened. */
  async send() {
    this.say("ticket-error", "");
    this.say("ticket-ok", "");
    const type = this.type();
    let first = null;
    for (const field of isPending(type) ? CHECKED_PENDING : CHECKED_MARKET) {
      this.settled.add(field);
      const problem = this.problem(field);
      this.showError(field, problem);
      if (problem && first === null) first = field;
    }
    if (first !== null) {
      this.input(first).focus();
      this.update();
      return;
    }
    const { info } = this.context.instrument();
    const side = this.side();
    const body = {
      asset: info.symbol,
      side,
      qty: formatScaled(this.parse("qty"), info.qtyDecimals),
      leverage: Number(this.leverage.value),
    };
    const takeProfit = this.parse("takeProfit");
    const stopLoss = this.parse("stopLoss");
    if (takeProfit !== null) body.takeProfit = formatScaled(takeProfit, info.priceDecimals);
    if (stopLoss !== null) body.stopLoss = formatScaled(stopLoss, info.priceDecimals);
    if (isPending(type)) {
      body.type = type;
      body[priceField(type)] = formatScaled(this.parse("orderPrice"), info.priceDecimals);
      const expiresAt = this.parse("expiresAt");
      if (expiresAt !== null) body.expiresAt = expiresAt;
    }
    const slippage = isPending(type) ? null : this.parse("slippage");
    if (slippage !== null) {
      const entry = this.entry();
      if (entry === null) {
        return this.showError("slippage", "There is no live price to guard yet: leave this empty or wait for a price.");
      }
      body.price = formatScaled(entry, info.priceDecimals);
      body.slippage = Number(slippage);
    }
    this.sending = true;
    this.enableButton();
    try {
      const opened = await this.context.submit(body);
      this.say("ticket-ok", isPending(type) ? placedWords(body, opened) : openedWords(opened));
    } catch (error) {
      this.refused(error, side, info, type);
    } finally {
      this.sending = false;
      this.enableButton();
    }
  }

  /** Whether an order can be sent now: null, or the reason it cannot (shown under Buy/Sell). */
  setTradable(reason) {
    this.blocked = reason;
    this.enableButton();
    this.button.title = reason ?? "";
    this.say("ticket-blocked", reason ?? "");
  }

  /** Buy/Sell is off while an order is on its way or no fresh price exists. */
  enableButton() {
    this.button.disabled = this.sending || this.blocked !== null;
  }

  /** The server's refusal, in words, next to the field it names or under the ticket. */
  refused(error, side, info, type) {
    const { field: named, text } = refusalWords(error, {
      side,
      type,
      asset: symbolLabel(info.symbol),
      decimalsOf: (name) => (name === "qty" ? info.qtyDecimals : info.priceDecimals),
      unitOf: () => baseUnit(info.symbol),
      staleAfterS: this.context.staleAfterS,
    });
    const field = named === "limitPrice" || named === "stopPrice" ? "orderPrice" : named;
    if (field !== null && field in FIELDS) this.showError(field, text);
    else this.say("ticket-error", text);
    this.update();
  }

  // -- showing and remembering -----------------------------------------------------------------

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

  /** Keep what is typed (checked again when read back: saved.js). */
  save() {
    const saved = this.saved;
    saved.side = this.side();
    saved.leverage = Number(this.leverage.value);
    saved.slippage = this.text("slippage");
    saved.riskPercent = this.text("riskPercent");
    saved.perAsset[this.asset] = Object.fromEntries(PER_ASSET.map((field) => [field, this.text(field)]));
    saveTicket(saved);
  }
}

const capitalised = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** "Bought 0.01 BTC/USDC at 95,010.0: $95.01 margin locked, liquidation at 94,106.5." */
function openedWords(opened) {
  const verb = opened.side === "buy" ? "Bought" : "Sold";
  return (
    `${verb} ${opened.qty} ${symbolLabel(opened.asset)} at ${groupDigits(opened.openPrice)}: ` +
    `$${groupDigits(opened.margin)} margin locked, liquidation at ${groupDigits(opened.liquidationPrice)}.`
  );
}

/** "Placed a buy limit for 0.01000 BTC/USDC at 94,000.0: $94.00 margin reserved, until you
 * cancel it." (the answer's figures; what was sent where the answer lacks one). */
function placedWords(sent, placed) {
  const name = typeLabel(sent.side, sent.type).toLowerCase();
  const at = placed.limitPrice ?? placed.stopPrice ?? sent.limitPrice ?? sent.stopPrice;
  const reserved = placed.reservedMargin == null ? "" : `: $${groupDigits(placed.reservedMargin)} margin reserved`;
  const expiresAt = placed.expiresAt ?? sent.expiresAt ?? null;
  const until = expiresAt === null ? "until you cancel it" : `until ${expiryLabel(expiresAt)}`;
  return `Placed a ${name} for ${placed.qty ?? sent.qty} ${symbolLabel(sent.asset)} at ${groupDigits(at)}${reserved}, ${until}.`;
}
