// Notifications: engine closes (take-profit, stop-loss, margin call) and confirmations.
//
// They live in an area of the page's own (between the open positions and the closed
// trades), never floating over it, so a notification can never cover a price, a PnL or
// a button. Each goes after a short while or when dismissed, and only the newest few are
// kept, so the area stays short; the closed trades table keeps the full record.

import { byId, el } from "./dom.js";

const LIFETIME_MS = 10000;
const MAX_SHOWN = 3;

/** Show a notification; `kind` is "info", "good", "bad" or "warn" (its colour). */
export function toast({ title, text, kind = "info", reason = "" }) {
  const area = byId("toasts");
  const box = el(
    "div",
    { class: `toast ${kind}`, role: kind === "bad" ? "alert" : "status", "data-testid": "toast", dataset: { reason } },
    el("div", { class: "toast-text" }, el("strong", { text: title }), el("p", { text })),
  );
  const dismiss = el("button", { type: "button", class: "ghost small", text: "Dismiss", "aria-label": `Dismiss: ${title}` });
  dismiss.addEventListener("click", () => box.remove());
  box.append(dismiss);
  area.prepend(box);
  while (area.children.length > MAX_SHOWN) area.lastElementChild.remove();
  setTimeout(() => box.remove(), LIFETIME_MS);
  return box;
}
