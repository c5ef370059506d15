// Notifications in the corner: engine closes (take-profit, stop-loss, margin call) and
// confirmations. They stay until dismissed or for a while, whichever comes first.

import { byId, el } from "./dom.js";

const LIFETIME_MS = 30000;

/** Show a toast; `kind` is "info", "good", "bad" or "warn" (its colour). */
export function toast({ title, text, kind = "info", reason = "" }) {
  const box = el(
    "div",
    { class: `toast ${kind}`, role: kind === "bad" ? "alert" : "status", "data-testid": "toast", dataset: { reason } },
    el("strong", { text: title }),
    el("p", { text }),
  );
  const dismiss = el("button", { type: "button", class: "ghost small", text: "Dismiss", "aria-label": `Dismiss: ${title}` });
  dismiss.addEventListener("click", () => box.remove());
  box.append(dismiss);
  byId("toasts").prepend(box);
  setTimeout(() => box.remove(), LIFETIME_MS);
  return box;
}
