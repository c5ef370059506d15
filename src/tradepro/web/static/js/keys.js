// The API keys panel: make a key (shown once, with a copy button), list them, revoke one
// after a confirmation in its own row.

import { byId, el, headerLabels, setText, show } from "./dom.js";
import { timeLabel } from "./format.js";

const SCOPE_WORDS = { read: "Read only", trade: "Read and trade" };

export class ApiKeys {
  /** @param call  the API call that handles a 401 */
  constructor(call) {
    this.call = call;
    this.keys = [];
    this.confirming = null; // the id of the key whose revocation awaits a "yes"
    this.form = byId("key-form");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    byId("key-copy").addEventListener("click", () => this.copy());
    byId("key-done").addEventListener("click", () => this.hideKey());
  }

  async load() {
    try {
      const body = await this.call("/api/v1/auth/api-keys");
      this.keys = body.keys;
      this.error(null);
    } catch (error) {
      if (error.status !== 401) this.error(`Cannot load your API keys: ${error.message}`);
      return;
    }
    this.render();
  }

  error(message) {
    setText(byId("key-error"), message ?? "");
    show(byId("key-error"), Boolean(message));
  }

  async create() {
    const nameInput = byId("key-name");
    const name = nameInput.value.trim();
    if (!name) {
      nameInput.setAttribute("aria-invalid", "true");
      this.error("Give the key a name, so you can tell it from your other keys later.");
      nameInput.focus();
      return;
    }
    nameInput.removeAttribute("aria-invalid");
    const scope = new FormData(this.form).get("scope");
    const scopes = scope === "trade" ? ["read", "trade"] : ["read"];
    const button = byId("key-create");
    button.disabled = true;
    try {
      const made = await this.call("/api/v1/auth/api-keys", { method: "POST", body: { name, scopes } });
      this.error(null);
      nameInput.value = "";
      this.showKey(made);
      await this.load();
    } catch (error) {
      if (error.status !== 401) this.error(`The key was not created: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  showKey(made) {
    const input = byId("key-value");
    input.value = made.key;
    show(byId("key-copied"), false);
    show(byId("key-once"), true);
    input.focus();
    input.select();
  }

  hideKey() {
    byId("key-value").value = "";
    show(byId("key-once"), false);
  }

  async copy() {
    const input = byId("key-value");
    let copied = false;
    try {
      await navigator.clipboard.writeText(input.value);
      copied = true;
    } catch {
      input.select(); // no clipboard API (a plain-http address): the old way
      copied = document.execCommand("copy");
    }
    setText(byId("key-copied"), copied ? "Copied. Paste it where your program keeps its secrets." : "Copying did not work here: select the key and copy it yourself.");
    show(byId("key-copied"), true);
  }

  async revoke(key, button) {
    button.disabled = true;
    try {
      await this.call(`/api/v1/auth/api-keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      this.error(null);
    } catch (error) {
      if (error.status !== 401) this.error(`The key "${key.name}" was not revoked: ${error.message}`);
    }
    this.confirming = null;
    await this.load();
  }

  render() {
    const [name, prefix, may, created, used] = headerLabels(byId("key-rows").closest("table"));
    const cell = (label, text, props = {}) => el("td", { text, "data-label": label, ...props });
    const rows = this.keys.map((key) =>
      el(
        "tr",
        { "data-testid": "key-row", dataset: { keyId: key.id } },
        cell(name, key.name, { class: "asset" }),
        cell(prefix, `${key.prefix}…`, { title: "The start of the key: the rest is never shown again" }),
        cell(may, SCOPE_WORDS[key.scopes.includes("trade") ? "trade" : "read"]),
        cell(created, timeLabel(key.createdAt), { title: key.createdAt }),
        cell(used, key.lastUsedAt ? timeLabel(key.lastUsedAt) : "Never", { title: key.lastUsedAt ?? "" }),
        el("td", { class: "action" }, this.action(key)),
      ),
    );
    byId("key-rows").replaceChildren(...rows);
    show(byId("keys-empty"), rows.length === 0);
  }

  action(key) {
    if (this.confirming !== key.id) {
      return el("button", {
        type: "button", class: "ghost small", text: "Revoke", "data-testid": "key-revoke",
        "aria-label": `Revoke the key ${key.name}`,
        onclick: () => {
          this.confirming = key.id;
          this.render();
        },
      });
    }
    const yes = el("button", {
      type: "button", class: "ghost small", text: "Yes, revoke", "data-testid": "key-revoke-confirm",
      onclick: (event) => this.revoke(key, event.currentTarget),
    });
    const no = el("button", {
      type: "button", class: "ghost small", text: "Keep it", "data-testid": "key-revoke-cancel",
      onclick: () => {
        this.confirming = null;
        this.render();
      },
    });
    const words = el("span", { text: `Revoke "${key.name}"? Programs using it stop working at once.` });
    return el("span", { class: "key-confirm", "data-testid": "key-confirm" }, words, yes, no);
  }
}
