// The Account dialog: deposit paper money (within the day's allowance) and reset the
// account, each after a confirmation in words: a deposit's names the amount, the free
// balance it makes and what may still be deposited today; a reset's says what will happen
// to the open positions and the pending orders. Amounts are checked here as the API checks
// them, then sent as typed.

import { newKey } from "./api.js";
import { byId, setText, show } from "./dom.js";
import { usd } from "./format.js";
import { USD_DECIMALS, parseScaled } from "./money.js";

function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * The sentences a deposit asks to confirm. `balance` (the free balance) and `allowance`
 * (what may still be deposited today) are cents, or null when not known yet: their
 * sentence is then left out.
 */
export function depositWords(amount, balance, allowance) {
  const words = [`Add ${usd(amount)} of paper money to your free balance?`];
  if (allowance !== null && amount > allowance) {
    words.push(
      allowance === 0n
        ? "You have used today's deposit allowance, so it will be refused."
        : `Only ${usd(allowance)} more can be deposited today, so it will be refused.`,
    );
    return words.join(" ");
  }
  if (balance !== null) words.push(`It becomes ${usd(balance + amount)}.`);
  if (allowance !== null) {
    words.push(
      allowance === amount
        ? "That uses the rest of today's deposit allowance."
        : `You can deposit ${usd(allowance - amount)} more today.`,
    );
  }
  return words.join(" ");
}

/** The sentence the reset asks to confirm. */
export function resetWords(positions, pending, balance) {
  const parts = [];
  if (positions > 0) parts.push(`your ${plural(positions, "open position", "open positions")} will be closed at the market price`);
  if (pending > 0) parts.push(`your ${plural(pending, "pending order", "pending orders")} will be cancelled`);
  const what = parts.length ? `${parts.join(" and ")}, then ` : "";
  const start = what ? what.charAt(0).toUpperCase() + what.slice(1) : "";
  const balanceText = `your balance will be set to ${usd(balance)}`;
  const sentence = start ? `${start}${balanceText}.` : `${balanceText.charAt(0).toUpperCase()}${balanceText.slice(1)}.`;
  return `Reset your account? ${sentence} Your trade history stays. This cannot be undone.`;
}

export class AccountMenu {
  /**
   * @param call      the API call that handles a 401
   * @param context   { counts: () => ({positions, pending}),
   *                    balance: () => the free balance in cents, or null before it loads,
   *                    changed: () => Promise (reload balance, positions, history) }
   */
  constructor(call, context) {
    this.call = call;
    this.context = context;
    this.dialog = byId("account-dialog");
    this.depositAmount = null; // the amount the open deposit confirmation names
    this.resetBalance = null; // the balance the open reset confirmation names
    this.startingBalance = null; // a reset's default (from the API's limits)
    this.allowance = null; // what may still be deposited today, as last shown
    byId("account-open").addEventListener("click", () => this.open());
    byId("account-close").addEventListener("click", () => this.dialog.close());
    byId("deposit-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.askDeposit();
    });
    // A changed amount is not the one the confirmation names: it is asked again.
    byId("deposit-amount").addEventListener("input", () => this.hideDepositConfirm());
    byId("deposit-cancel").addEventListener("click", () => {
      this.hideDepositConfirm();
      byId("deposit-amount").focus();
    });
    byId("deposit-yes").addEventListener("click", () => this.deposit());
    byId("reset-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.askReset();
    });
    byId("reset-cancel").addEventListener("click", () => this.hideConfirm());
    byId("reset-yes").addEventListener("click", () => this.reset());
  }

  async open() {
    this.message(null, null);
    this.hideConfirm();
    this.hideDepositConfirm();
    this.dialog.showModal();
    byId("deposit-amount").focus();
    await this.loadAllowance();
  }

  async loadAllowance() {
    try {
      const limits = await this.call("/api/v1/account/limits");
      this.startingBalance = parseMoney(limits.startingBalance);
      setText(byId("reset-hint"), `Empty: the starting balance, ${usd(this.startingBalance)}.`);
      this.showAllowance(limits.depositAllowance);
    } catch (error) {
      if (error.status !== 401) this.message(null, `Cannot load your account's limits: ${error.message}`);
    }
  }

  showAllowance(text) {
    if (text == null) return;
    const cents = parseScaled(text, USD_DECIMALS, "depositAllowance", { allowZero: true });
    this.allowance = cents;
    setText(
      byId("deposit-allowance"),
      cents === 0n
        ? "You have used today's deposit allowance: deposits open again at midnight UTC."
        : `You can deposit up to ${usd(cents)} more today (the allowance renews at midnight UTC).`,
    );
  }

  /** A USD amount from an input, or null after saying what is wrong with it. */
  amount(id, what, { allowZero = false, optional = false } = {}) {
    const input = byId(id);
    const text = input.value.trim();
    if (optional && text === "") return undefined;
    try {
      const cents = parseScaled(text.replaceAll(",", ""), USD_DECIMALS, what, { allowZero });
      input.removeAttribute("aria-invalid");
      return cents;
    } catch (error) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
      const why = {
        required: `Enter the ${what}, for example 1000.00.`,
        zero: `The ${what} must be more than $0.00.`,
        negative: `The ${what} cannot be negative.`,
        too_precise: `The ${what} has at most two decimals (cents).`,
        too_large: `The ${what} is too large.`,
      }[error.code] ?? `The ${what} must be a number of dollars, for example 1000.00.`;
      this.message(null, why);
      return null;
    }
  }

  askDeposit() {
    const cents = this.amount("deposit-amount", "amount");
    if (cents === null) return;
    this.message(null, null);
    this.hideConfirm();
    this.depositAmount = cents;
    setText(byId("deposit-confirm-text"), depositWords(cents, this.context.balance(), this.allowance));
    show(byId("deposit-confirm"), true);
    byId("deposit-cancel").focus();
  }

  hideDepositConfirm() {
    show(byId("deposit-confirm"), false);
    this.depositAmount = null;
  }

  async deposit() {
    // Taken at once: a second click (a double click) finds nothing to send.
    const cents = this.depositAmount;
    if (cents === null) return;
    this.depositAmount = null;
    const button = byId("deposit-yes");
    button.disabled = true;
    try {
      const done = await this.call("/api/v1/account/deposit", {
        method: "POST",
        body: { amount: centsText(cents) },
        headers: { "Idempotency-Key": newKey() },
      });
      this.hideDepositConfirm();
      byId("deposit-amount").value = "";
      this.message(`${usd(cents)} added. Your balance is now ${usd(parseMoney(done.balance))}.`, null);
      this.showAllowance(done.depositAllowance);
      button.disabled = false;
      await this.context.changed();
    } catch (error) {
      this.hideDepositConfirm();
      if (error.status !== 401) this.message(null, `The deposit was not made: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  askReset() {
    const cents = this.amount("reset-balance", "new balance", { allowZero: true, optional: true });
    if (cents === null) return;
    this.message(null, null);
    this.hideDepositConfirm();
    if (cents === undefined && this.startingBalance === null) {
      this.message(null, "Enter the new balance (the starting balance could not be loaded).");
      return;
    }
    this.resetBalance = cents ?? this.startingBalance;
    const { positions, pending } = this.context.counts();
    setText(byId("reset-confirm-text"), resetWords(positions, pending, this.resetBalance));
    show(byId("reset-confirm"), true);
    byId("reset-cancel").focus();
  }

  hideConfirm() {
    show(byId("reset-confirm"), false);
    this.resetBalance = null;
  }

  async reset() {
    if (this.resetBalance === null) return;
    const balance = this.resetBalance;
    const button = byId("reset-yes");
    button.disabled = true;
    try {
      const done = await this.call("/api/v1/account/reset", {
        method: "POST",
        body: { balance: centsText(balance) },
        headers: { "Idempotency-Key": newKey() },
      });
      this.hideConfirm();
      byId("reset-balance").value = "";
      const closed = done.closedOrders?.length ?? 0;
      const canceled = done.canceledOrders?.length ?? 0;
      const what = [
        closed ? `${plural(closed, "position", "positions")} closed` : null,
        canceled ? `${plural(canceled, "pending order", "pending orders")} cancelled` : null,
      ].filter(Boolean);
      const summary = what.length ? ` ${what.join(", ")}.` : "";
      this.message(`Your account was reset: the balance is ${usd(parseMoney(done.balance))}.${summary}`, null);
      button.disabled = false;
      await this.context.changed();
    } catch (error) {
      this.hideConfirm();
      if (error.status !== 401) this.message(null, `Your account was not reset: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  message(done, error) {
    setText(byId("account-done"), done ?? "");
    show(byId("account-done"), Boolean(done));
    setText(byId("account-error"), error ?? "");
    show(byId("account-error"), Boolean(error));
  }
}

function centsText(cents) {
  const text = cents.toString().padStart(3, "0");
  return `${text.slice(0, -2)}.${text.slice(-2)}`;
}

function parseMoney(text) {
  return parseScaled(text, USD_DECIMALS, "balance", { allowZero: true });
}
