// The statistics panel: GET /account/stats, shown as the API says them (decimal strings;
// the win rate, a fraction, as a percentage moved by two places on the string).

import { byId, setText, show } from "./dom.js";
import { signedUsd, tone, usd } from "./format.js";
import { USD_DECIMALS, formatScaled, parseScaled, parseSigned } from "./money.js";
import { Coalesced } from "./pace.js";

const RELOAD_GAP_MS = 1000;
const NONE = "—";

export class Stats {
  /** @param call  the API call that handles a 401; @param report  the error banner */
  constructor(call, report) {
    this.call = call;
    this.report = report;
    this.loads = new Coalesced(() => this.load(), RELOAD_GAP_MS);
  }

  refresh() {
    return this.loads.call();
  }

  async load() {
    let stats;
    try {
      stats = await this.call("/api/v1/account/stats");
    } catch (error) {
      if (error.status !== 401) this.report("stats", `Cannot load your statistics: ${error.message}`);
      return;
    }
    this.report("stats", null);
    this.render(stats);
  }

  render(stats) {
    setText(byId("stat-trades"), String(stats.trades));
    setText(byId("stat-win-rate"), winRate(stats));
    money(byId("stat-total"), stats.totalPnl, true);
    money(byId("stat-average-win"), stats.averageWin, true);
    money(byId("stat-average-loss"), stats.averageLoss, true);
    setText(byId("stat-profit-factor"), profitFactor(stats));
    money(byId("stat-drawdown"), stats.maxDrawdown, false);
    money(byId("stat-commission"), stats.commission, false);
    show(byId("stats-empty"), stats.trades === 0);
  }
}

/** "0.5833" -> "58.33% (7 of 12)"; a dash before the first trade. */
export function winRate(stats) {
  if (stats.winRate === null) return NONE;
  const hundredths = parseScaled(stats.winRate, 4, "winRate", { allowZero: true });
  return `${formatScaled(hundredths, 2)}% (${stats.wins} of ${stats.trades})`;
}

function profitFactor(stats) {
  if (stats.profitFactor !== null) return stats.profitFactor.replace(/0{1,2}$/, "");
  return stats.wins > 0 ? "no losses" : NONE;
}

function money(node, text, signed) {
  if (text === null) {
    setText(node, NONE);
    delete node.dataset.tone;
    return;
  }
  const cents = parseSigned(text, USD_DECIMALS, "amount");
  setText(node, signed ? signedUsd(cents) : usd(cents));
  if (signed) node.dataset.tone = tone(cents);
}
