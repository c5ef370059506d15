// Start-up: load the settings and instruments, find out whether there is a session, then
// show the sign-in page or the trading terminal.

import { ApiError, api } from "./api.js";
import { byId, setText, show } from "./dom.js";
import { Contract } from "./money.js";
import { showSignIn } from "./signin.js";
import { Terminal } from "./terminal.js";

const errors = new Map();

/** Show `message` in the banner under `source` (null clears that source). */
export function report(source, message) {
  if (message) errors.set(source, message);
  else errors.delete(source);
  setText(byId("error-text"), [...errors.values()].join(" · "));
  show(byId("error-banner"), errors.size > 0);
}

async function boot() {
  byId("error-dismiss").addEventListener("click", () => {
    errors.clear();
    report("", null);
  });
  let config;
  let instruments;
  try {
    [config, { instruments }] = await Promise.all([api("/api/v1/config"), api("/api/v1/instruments")]);
  } catch (error) {
    show(byId("loading"), false);
    report("start", `TradePro cannot start: ${error.message}`);
    return;
  }
  const table = new Map(
    instruments.map((info) => [info.symbol, { info, contract: new Contract(info) }]),
  );
  const signIn = (reason) => {
    show(byId("trading-view"), false);
    show(byId("market-bar"), false);
    show(byId("account-bar"), false);
    showSignIn(config, reason);
  };
  // A sign-in link that was refused comes back here with the reason (the API redirects).
  const linkError = new URLSearchParams(window.location.search).get("signin_error");
  if (linkError) window.history.replaceState(null, "", window.location.pathname);
  let user;
  try {
    user = await api("/api/v1/auth/protected-route-test");
  } catch (error) {
    show(byId("loading"), false);
    if (error instanceof ApiError && error.status === 401) {
      signIn(linkError ? `Sign-in failed: ${linkError}. Enter your e-mail above for a new link.` : "");
    } else report("start", `Cannot check your session: ${error.message}`);
    return;
  }
  show(byId("loading"), false);
  const terminal = new Terminal(config, table, user, report, (reason) => {
    terminal.stop();
    signIn(reason);
  });
  terminal.start();
}

boot();
