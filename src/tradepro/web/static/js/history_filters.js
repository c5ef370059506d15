// The closed trades' filters: asset, side, reason and a range of days (UTC), applied to the
// table (get-close-orders) and to the CSV link alike. A day range is checked here first,
// in words; anything the API still refuses comes back with its own message.

import { byId, el, setText, show } from "./dom.js";
import { symbolLabel } from "./symbols.js";

const DAY_MS = 86400000;

/** The day after `day` ("YYYY-MM-DD"), or null for a value that is not a date. */
export function nextDay(day) {
  const moment = Date.parse(`${day}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(moment)) return null;
  if (new Date(moment).toISOString().slice(0, 10) !== day) return null; // 2026-02-30
  return new Date(moment + DAY_MS).toISOString().slice(0, 10);
}

/** The API's query for the form's values, or `{ error }` in words. "Until" includes its
 * day: the API's `to` is the first moment left out, so it is the day after. */
export function filterQuery({ asset, side, reason, from, to }) {
  const query = new URLSearchParams();
  if (asset) query.set("asset", asset);
  if (side) query.set("side", side);
  if (reason) query.set("reason", reason);
  if (from) {
    if (nextDay(from) === null) return { error: "“From” is not a date: pick one from the calendar." };
    query.set("from", from);
  }
  if (to) {
    const after = nextDay(to);
    if (after === null) return { error: "“Until” is not a date: pick one from the calendar." };
    if (from && to < from) {
      return { error: `“Until” (${to}) is before “From” (${from}): pick an end on or after the start.` };
    }
    query.set("to", after);
  }
  return { query };
}

export class HistoryFilters {
  /** @param instruments  the instruments table (for the asset choices);
   * @param onChange  called with the new URLSearchParams when the filters are applied */
  constructor(instruments, onChange) {
    this.onChange = onChange;
    this.form = byId("history-filters");
    this.error = byId("filter-error");
    const assets = byId("filter-asset");
    assets.append(...[...instruments.keys()].map((symbol) => el("option", { value: symbol, text: symbolLabel(symbol) })));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.apply();
    });
    byId("filter-clear").addEventListener("click", () => {
      this.form.reset();
      this.apply();
    });
  }

  values() {
    const data = new FormData(this.form);
    return Object.fromEntries(["asset", "side", "reason", "from", "to"].map((name) => [name, String(data.get(name) ?? "")]));
  }

  apply() {
    const { query, error } = filterQuery(this.values());
    const dates = [byId("filter-from"), byId("filter-to")];
    if (error) {
      setText(this.error, error);
      show(this.error, true);
      dates.forEach((input) => input.setAttribute("aria-invalid", "true"));
      return;
    }
    show(this.error, false);
    dates.forEach((input) => input.removeAttribute("aria-invalid"));
    this.onChange(query);
  }
}
