// Live data over the WebSocket server: prices for every asset, the user's order events.
//
// The session cookie is HttpOnly, so this script never sees the token: the browser sends
// the cookie with the WebSocket handshake (cookies belong to the host, whatever the port).
// A lost connection is retried with exponential backoff and jitter, forever; a close with
// code 4401 means the session is not valid and is reported instead of retried.

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const UNAUTHORIZED = 4401;

export class LiveFeed {
  /**
   * @param {string} url  the ws:// URL from /api/v1/config
   * @param {string[]} channels  e.g. ["prices.BTC_USDC", "orders"]
   * @param {object} handlers  onPrice(message), onOrder(message), onFeed(message),
   *   onState(state, detail), onUnauthorized(), onServerError(message)
   */
  constructor(url, channels, handlers) {
    this.url = url;
    this.channels = channels;
    this.handlers = handlers;
    this.socket = null;
    this.failures = 0;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket !== null) this.socket.close(1000, "signed out");
    this.socket = null;
  }

  connect() {
    this.handlers.onState("connecting");
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (error) {
      this.handlers.onState("offline", `cannot open ${this.url}: ${error.message}`);
      this.retry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.failures = 0;
      socket.send(JSON.stringify({ type: "subscribe", channels: this.channels }));
      this.handlers.onState("live");
    });
    socket.addEventListener("message", (event) => this.dispatch(event.data));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (event.code === UNAUTHORIZED) {
        this.handlers.onState("offline", "the live feed refused the session");
        this.handlers.onUnauthorized();
        return;
      }
      this.retry();
    });
  }

  retry() {
    if (this.stopped) return;
    const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.failures);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.failures += 1;
    const seconds = Math.max(1, Math.round(delay / 1000));
    this.handlers.onState("offline", `live feed unreachable, retrying in ${seconds} s`);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  dispatch(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return; // not ours to show: the server only sends JSON
    }
    if (message.type === "price") this.handlers.onPrice(message);
    else if (message.type === "order") this.handlers.onOrder(message);
    else if (message.type === "feed") this.handlers.onFeed(message);
    else if (message.type === "account") this.handlers.onAccount?.(message);
    else if (message.type === "error") this.handlers.onServerError(message);
  }
}
