// The sign-in page: e-mail in, "check your mail" out. In dev without SMTP the API prints
// the link in its log, and the page says so (it never shows the link itself: anyone could
// then sign in as anyone).

import { api } from "./api.js";
import { byId, setText, show } from "./dom.js";

let bound = false;

const FEEDS = {
  backpack: "Prices come from the Backpack exchange (real market quotes).",
  sim: "Prices are SIMULATED on this server (a random walk for offline use), not market quotes.",
};

/** Show the sign-in view; `reason` (optional) says why, e.g. an expired session. */
export function showSignIn(config, reason = "") {
  show(byId("signin-view"), true);
  show(byId("signin-form"), true);
  show(byId("signin-sent"), false);
  say(reason);
  const feed = FEEDS[config?.feed];
  setText(byId("signin-feed"), feed ?? "");
  show(byId("signin-feed"), Boolean(feed));
  if (bound) return;
  bound = true;
  byId("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = byId("email").value.trim();
    if (!email || !email.includes("@")) {
      say("E-mail: enter the address to send the sign-in link to.");
      return;
    }
    say("");
    const button = byId("signin-submit");
    button.disabled = true;
    try {
      await api("/api/v1/auth/signup", { method: "POST", body: { email } });
      show(byId("signin-form"), false);
      setText(byId("signin-sent-text"), `We sent a sign-in link to ${email}. It works once, for 15 minutes.`);
      show(byId("signin-dev"), Boolean(config?.signInLinksLogged));
      show(byId("signin-sent"), true);
    } catch (error) {
      say(`The sign-in link could not be sent: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
}

function say(text) {
  setText(byId("signin-error"), text);
  show(byId("signin-error"), Boolean(text));
}
