// Reloads that a burst of events asks for many times at once: one request at a time, at
// most one every `gapMs`, and every call made meanwhile shares the next one. The API
// allows each user a few reads a second; a page that reloaded once per event (twenty
// positions closed by one tick, orders from another device) would exceed it and then
// show a "too many reads" error instead of the news.

export class Coalesced {
  /** @param run  () -> Promise, the reload; @param gapMs  the least time between two starts */
  constructor(run, gapMs) {
    this.run = run;
    this.gapMs = gapMs;
    this.current = null;
    this.next = null;
    this.startedAt = -Infinity;
  }

  /** Reload soon; resolves with the result of a reload that starts after this call. */
  call() {
    if (this.next !== null) return this.next;
    const previous = this.current ?? Promise.resolve();
    const wait = () => {
      const left = this.startedAt + this.gapMs - performance.now();
      return left > 0 ? new Promise((resolve) => setTimeout(resolve, left)) : undefined;
    };
    this.next = previous.then(wait, wait).then(() => {
      this.next = null;
      this.startedAt = performance.now();
      this.current = Promise.resolve()
        .then(this.run)
        .finally(() => {
          this.current = null;
        });
      return this.current;
    });
    return this.next;
  }
}
