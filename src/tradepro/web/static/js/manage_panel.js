// Managing open positions: one dialog, filled for what the user asked for.
//
// - A take profit or stop loss line dropped on the chart: the new level and what the
//   position would then gain at its take profit and lose at its stop loss, in dollars
//   (exact, money.js); Confirm sends it (modify-order), Cancel puts the line back.
// - "Edit TP/SL" in a position's row: the same change typed in (and the trailing stop's
//   distance), for those who do not drag.
// - "Close part": 25 / 50 / 75 % or a quantity, rounded down to the instrument's step, with
//   what will be closed and what stays open.
// - "Close all…": how many positions will close, all or only the chart's market.
//
// The server's refusal is shown in its words; nothing is retried on its own.

import { el, setText, show } from "./dom.js";
import { groupDigits, priceText, sideLabel, signedUsd, usd } from "./format.js";
import { InputError, USD_DECIMALS, closePriceFor, formatScaled, parseScaled, parseSigned } from "./money.js";
import { riskReward, shareOfQty } from "./position_math.js";
import { symbolLabel } from "./symbols.js";
import { toast } from "./toasts.js";

const LEVEL_NAMES = { takeProfit: "take profit", stopLoss: "stop loss" };
const SHARES = [25, 50, 75];

/** "+$12.30 at the take profit (96,000.0)" or "no take profit". */
function outcomeWords(amount, level, decimals, name, loss) {
  if (level === null) return `no ${name}`;
  const money = loss ? (amount >= 0n ? `-${usd(amount)}` : `+${usd(-amount)}`) : signedUsd(amount);
  return `${money} at the ${name} (${priceText(level, decimals)})`;
}

export class ManagePanel {
  /**
   * @param context  instruments: Map symbol -> {info, contract}; quote(asset) -> quote or
   *   null; call(path, options) -> Promise; refresh() -> Promise; history: History;
   *   chart: PriceChart; positions() -> the open positions (parsed); asset() -> the
   *   chart's market
   */
  constructor(context) {
    this.context = context;
    this.dialog = el("dialog", { class: "amend manage", "data-testid": "manage-dialog", "aria-labelledby": "manage-title" });
    document.body.append(this.dialog);
    this.onClosed = null;
    this.dialog.addEventListener("close", () => {
      const then = this.onClosed;
      this.onClosed = null;
      this.dialog.replaceChildren();
      if (then) then();
    });
  }

  /** Open the dialog with `title`, `parts` and what happens when it closes. */
  open(title, parts, onClosed = null) {
    if (this.dialog.open) this.dialog.close();
    this.error = el("p", { class: "form-error", role: "alert", "data-testid": "manage-error", hidden: true });
    // The error goes above the buttons (the last part), where it is read before them.
    this.dialog.replaceChildren(el("h2", { id: "manage-title", text: title }), ...parts.slice(0, -1), this.error, parts[parts.length - 1]);
    this.onClosed = onClosed;
    this.dialog.showModal();
  }

  fail(message) {
    setText(this.error, message);
    show(this.error, true);
  }

  actions(confirmText, confirmTestId, onConfirm, cancelText = "Cancel") {
    const cancel = el("button", { type: "button", class: "ghost", text: cancelText, "data-testid": "manage-cancel" });
    const confirm = el("button", { type: "button", class: "primary", text: confirmText, "data-testid": confirmTestId });
    cancel.addEventListener("click", () => this.dialog.close());
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      show(this.error, false);
      try {
        await onConfirm();
      } finally {
        confirm.disabled = false;
      }
    });
    return { node: el("div", { class: "amend-actions" }, cancel, confirm), confirm };
  }

  instrument(position) {
    return this.context.instruments.get(position.asset);
  }

  /** "long 0.01000 BTC/USDC" */
  what(position) {
    return `${sideLabel(position.side).toLowerCase()} ${position.qty} ${symbolLabel(position.asset)}`;
  }

  /** The position's levels as ticks, with `changes` ({takeProfit, stopLoss}: ticks or null) applied. */
  levels(position, changes = {}) {
    const decimals = this.instrument(position).info.priceDecimals;
    const parse = (text, field) => (text == null ? null : parseScaled(text, decimals, field));
    const current = { takeProfit: parse(position.takeProfit, "takeProfit"), stopLoss: parse(position.stopLoss, "stopLoss") };
    return { ...current, ...changes };
  }

  /** "If it closes there: +$12.30 at the take profit (96,000.0), -$5.00 at the stop loss (94,500.0)." */
  outcome(position, levels) {
    const { contract, info } = this.instrument(position);
    const { reward, risk } = riskReward(contract, position, levels.takeProfit, levels.stopLoss);
    const gain = outcomeWords(reward, levels.takeProfit, info.priceDecimals, "take profit", false);
    const loss = outcomeWords(risk, levels.stopLoss, info.priceDecimals, "stop loss", true);
    return `If it closes there: ${gain}; ${loss}.`;
  }

  // -- a line dropped on the chart --------------------------------------------------------

  confirmDrop(position, kind, ticks) {
    const { info } = this.instrument(position);
    const name = LEVEL_NAMES[kind];
    const old = position[kind];
    const from = old == null ? "" : ` from ${groupDigits(old)}`;
    const levels = this.levels(position, { [kind]: ticks });
    const question = el("p", {
      "data-testid": "manage-question",
      text: `Move the ${name} of your ${this.what(position)} position${from} to ${priceText(ticks, info.priceDecimals)}?`,
    });
    const preview = el("p", { class: "muted", "data-testid": "manage-outcome", text: this.outcome(position, levels) });
    const buttons = this.actions(`Move the ${name}`, "manage-confirm", async () => {
      const changed = await this.modify(position, { [kind]: formatScaled(ticks, info.priceDecimals) });
      if (changed) this.dialog.close();
    });
    this.open(`Move the ${name}?`, [question, preview, buttons.node], () => this.context.chart.release());
    const problem = this.wrongSide(position, kind, ticks);
    if (problem !== null) {
      this.fail(`${problem} Cancel puts the line back.`);
      buttons.confirm.disabled = true;
      buttons.confirm.hidden = true;
    }
  }

  /** Why the engine would refuse `kind` at `ticks` (it would close the position at once), or
   * null. Without a price the engine decides. */
  wrongSide(position, kind, ticks) {
    const quote = this.context.quote(position.asset);
    if (!quote) return null;
    const { info } = this.instrument(position);
    const at = closePriceFor(position.side, quote);
    const long = position.side === "buy";
    const above = (kind === "takeProfit") === long;
    if (above ? ticks > at : ticks < at) return null;
    const price = long ? "bid" : "ask";
    const where = above ? "above" : "below";
    return `A ${long ? "long" : "short"}'s ${LEVEL_NAMES[kind]} must be ${where} the ${price} (${priceText(at, info.priceDecimals)} now): there it would close the position at once.`;
  }

  /** Send a modify-order; true when done (the error is shown otherwise). */
  async modify(position, fields) {
    let changed;
    try {
      changed = await this.context.call("/api/v1/trade/modify-order", { method: "POST", body: { orderId: position.orderId, ...fields } });
    } catch (error) {
      this.fail(`Not changed: ${error.message}`);
      return false;
    }
    const levels = [`take profit ${changed.takeProfit == null ? "none" : groupDigits(changed.takeProfit)}`,
      `stop loss ${changed.stopLoss == null ? "none" : groupDigits(changed.stopLoss)}`];
    if (changed.trailingStopPrice != null) levels.push(`trailing stop at ${groupDigits(changed.trailingStopPrice)}`);
    toast({ title: `${symbolLabel(position.asset)} ${sideLabel(position.side).toLowerCase()} changed`, text: `Now: ${levels.join(", ")}.`, kind: "good", reason: "modified" });
    await this.context.refresh();
    return true;
  }

  // -- the form ------------------------------------------------------------------------------

  editLevels(position) {
    const { info } = this.instrument(position);
    const decimals = info.priceDecimals;
    const field = (id, label, value, hint) => {
      const input = el("input", { id, inputmode: "decimal", autocomplete: "off", "data-testid": id, value: value ?? "" });
      const error = el("p", { class: "field-error", "data-testid": `${id}-error`, hidden: true });
      return { input, error, nodes: [el("label", { for: id, text: label }, el("span", { class: "muted", text: ` ${hint}` })), input, error] };
    };
    const tp = field("manage-take-profit", "Take profit", position.takeProfit, "(empty: none)");
    const sl = field("manage-stop-loss", "Stop loss", position.stopLoss, "(empty: none)");
    const trail = field("manage-trailing", "Trailing stop distance", position.trailingStop, "(price units; empty: none)");
    const now = position.trailingStopPrice == null ? "" : ` It is now at ${groupDigits(position.trailingStopPrice)}.`;
    const trailHint = el("p", {
      class: "field-hint",
      text: position.side === "buy"
        ? `Follows the highest bid from now on, this far below it, and closes the position when the bid falls to it.${now}`
        : `Follows the lowest ask from now on, this far above it, and closes the position when the ask rises to it.${now}`,
    });
    const preview = el("p", { class: "muted", "data-testid": "manage-outcome" });
    const read = () => {
      const out = {};
      let ok = true;
      for (const [key, part] of [["takeProfit", tp], ["stopLoss", sl], ["trailingStop", trail]]) {
        show(part.error, false);
        const text = part.input.value.trim();
        if (text === "") {
          out[key] = null;
          continue;
        }
        try {
          out[key] = parseScaled(text, decimals, key);
        } catch (error) {
          if (!(error instanceof InputError)) throw error;
          ok = false;
          setText(part.error, error.code === "too_precise" ? `At most ${decimals} decimal places.` : "Enter a price like 95000.5, or leave it empty.");
          show(part.error, true);
        }
      }
      return ok ? out : null;
    };
    const update = () => {
      const levels = read();
      setText(preview, levels === null ? "" : this.outcome(position, levels));
    };
    for (const part of [tp, sl, trail]) part.input.addEventListener("input", update);
    update();
    const buttons = this.actions("Save", "manage-save", async () => {
      const levels = read();
      if (levels === null) return;
      const body = {};
      const before = { takeProfit: position.takeProfit, stopLoss: position.stopLoss, trailingStop: position.trailingStop };
      for (const [key, ticks] of Object.entries(levels)) {
        const text = ticks === null ? null : formatScaled(ticks, decimals);
        const old = before[key] == null ? null : formatScaled(parseScaled(before[key], decimals, key), decimals);
        if (text !== old) body[key] = text;
      }
      if (Object.keys(body).length === 0) {
        this.fail("Nothing has changed: change a level, or cancel.");
        return;
      }
      if (await this.modify(position, body)) this.dialog.close();
    });
    const what = el("p", { class: "muted", text: `Your ${this.what(position)} position, opened at ${groupDigits(position.openPrice)}.` });
    this.open("Edit take profit and stop loss", [what, ...tp.nodes, ...sl.nodes, ...trail.nodes, trailHint, preview, buttons.node]);
  }

  // -- partial close -------------------------------------------------------------------------

  closePart(position) {
    const { info, contract } = this.instrument(position);
    const unit = symbolLabel(position.asset).split("/")[0];
    const input = el("input", { id: "manage-qty", inputmode: "decimal", autocomplete: "off", "data-testid": "manage-qty" });
    const error = el("p", { class: "field-error", "data-testid": "manage-qty-error", hidden: true });
    const preview = el("p", { class: "muted", "data-testid": "close-preview", "aria-live": "polite" });
    const shares = el("div", { class: "shares", role: "group", "aria-label": "Share of the position to close" });
    for (const percent of SHARES) {
      const button = el("button", { type: "button", class: "ghost", text: `${percent} %`, "data-testid": `close-${percent}` });
      button.addEventListener("click", () => {
        input.value = formatScaled(shareOfQty(position.qtyLots, percent), info.qtyDecimals);
        update();
      });
      shares.append(button);
    }
    const read = () => {
      show(error, false);
      const text = input.value.trim();
      if (text === "") return null;
      let lots;
      try {
        lots = parseScaled(text, info.qtyDecimals, "qty");
      } catch (problem) {
        if (!(problem instanceof InputError)) throw problem;
        const step = formatScaled(1n, info.qtyDecimals);
        setText(error, problem.code === "too_precise" ? `The quantity goes in steps of ${step} ${unit}.` : `Enter a quantity like ${step}.`);
        show(error, true);
        return null;
      }
      if (lots >= position.qtyLots) {
        setText(error, `Less than the whole ${position.qty} ${unit}: to close all of it, use Close.`);
        show(error, true);
        return null;
      }
      return lots;
    };
    const update = () => {
      const lots = read();
      if (lots === null) {
        setText(preview, "");
        return;
      }
      const quote = this.context.quote(position.asset);
      let result = "";
      if (quote) {
        const at = closePriceFor(position.side, quote);
        const pnl = contract.pnl(position.side, position.openTicks, lots, at);
        result = ` at about ${priceText(at, info.priceDecimals)} (PnL about ${signedUsd(pnl)} before commission)`;
      }
      const left = formatScaled(position.qtyLots - lots, info.qtyDecimals);
      setText(preview, `Closes ${formatScaled(lots, info.qtyDecimals)} ${unit}${result}; ${left} ${unit} stays open.`);
    };
    input.addEventListener("input", update);
    const buttons = this.actions("Close this part", "manage-close-part", async () => {
      const lots = read();
      if (lots === null) {
        if (input.value.trim() === "") this.fail("Choose a share or enter a quantity to close.");
        return;
      }
      let closed;
      try {
        closed = await this.context.call("/api/v1/trade/close-order", {
          method: "POST", body: { orderId: position.orderId, qty: formatScaled(lots, info.qtyDecimals) },
        });
      } catch (problem) {
        this.fail(`Not closed: ${problem.message}`);
        return;
      }
      this.context.history.confirmPartial(position, closed);
      this.dialog.close();
      await Promise.all([this.context.refresh(), this.context.history.waitFor([closed.tradeId])]);
    });
    const what = el("p", { class: "muted", text: `Your ${this.what(position)} position. The rest stays open with its take profit and stop loss.` });
    const label = el("label", { for: "manage-qty", text: `Quantity to close (${unit}, below ${position.qty})` });
    this.open("Close part of the position", [what, shares, label, input, error, preview, buttons.node]);
  }

  // -- close all -----------------------------------------------------------------------------

  closeAll() {
    const positions = this.context.positions();
    const asset = this.context.asset();
    const here = positions.filter((position) => position.asset === asset).length;
    const count = (n) => (n === 1 ? "1 position" : `${n} positions`);
    const question = el("p", { "data-testid": "manage-question", text: `Close your ${count(positions.length)} at the market price now?` });
    const parts = [question];
    const send = async (body, label) => {
      let answer;
      try {
        answer = await this.context.call("/api/v1/trade/close-all", { method: "POST", body });
      } catch (problem) {
        this.fail(`Nothing closed: ${problem.message}`);
        return;
      }
      let total = 0n;
      for (const order of answer.orders) total += parseSigned(order.pnl, USD_DECIMALS, "pnl");
      this.context.history.confirmAll(answer.orders);
      toast({ title: `Closed ${label}`, text: `${count(answer.orders.length)} closed; PnL ${signedUsd(total)}.`, kind: total < 0n ? "warn" : "good", reason: "user" });
      this.dialog.close();
      await Promise.all([this.context.refresh(), this.context.history.waitFor(answer.orders.map((order) => order.tradeId))]);
    };
    const buttons = this.actions(`Close all ${count(positions.length)}`, "confirm-close-all", () => send({}, "all positions"), "Keep them");
    if (here > 0 && here < positions.length) {
      const only = el("button", { type: "button", class: "ghost", text: `Only the ${count(here)} in ${symbolLabel(asset)}`, "data-testid": "confirm-close-asset" });
      only.addEventListener("click", async () => {
        only.disabled = true;
        await send({ asset }, `${symbolLabel(asset)} positions`);
        only.disabled = false;
      });
      parts.push(el("div", { class: "amend-actions" }, only));
    }
    parts.push(buttons.node);
    this.open("Close all positions?", parts);
  }
}
