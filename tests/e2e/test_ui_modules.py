"""The page's small rules, run in Chromium: how a symbol reads, which closed trades count as
"closed while you were away" (and what a damaged memory of it does), and how reloads
asked for by a burst of events are shared."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

SYMBOLS = """async () => {
  const { symbolLabel } = await import("/static/js/symbols.js");
  return ["BTC_USDC", "ETH_USDC", "SOL_USDC", "PLAIN"].map(symbolLabel);
}"""


def test_every_view_names_an_asset_the_same_way(module_page: Page) -> None:
    assert module_page.evaluate(SYMBOLS) == ["BTC/USDC", "ETH/USDC", "SOL/USDC", "PLAIN"]


MARKER = """async () => {
  const { SeenMarker, closedAfter } = await import("/static/js/away.js");
  const marker = new SeenMarker("user-1");
  const other = new SeenMarker("user-2");
  const results = { first: marker.load() };
  const trade = (closedAt, orderId) => ({ closedAt, orderId });
  const seen = trade("2026-12-04T10:00:00.500Z", "0193-b");
  marker.save(seen);
  results.saved = marker.load();
  results.otherUser = other.load();
  results.after = [
    trade("2026-12-04T10:00:00.501Z", "0193-c"),  // later
    trade("2026-12-04T10:00:00.500Z", "0193-a"),  // the same millisecond, listed before it
    trade("2026-12-04T10:00:00.500Z", "0193-b"),  // itself
    trade("2026-12-04T10:00:00.499Z", "0193-z"),  // earlier
  ].map((order) => closedAfter(order, results.saved));
  marker.save(null);
  results.empty = marker.load();
  results.afterEmpty = closedAfter(seen, results.empty);
  results.damaged = [];
  const damaged = ["{not json", "42", "null", '{"closedAt": 5}', '{"closedAt": "x", "orderId": 7}'];
  for (const text of damaged) {
    localStorage.setItem(marker.key, text);
    results.damaged.push(marker.load());
  }
  return results;
}"""


def test_the_last_seen_trade_is_remembered_per_user_and_a_damaged_one_is_forgotten(
    module_page: Page,
) -> None:
    results: dict[str, Any] = module_page.evaluate(MARKER)
    assert results["first"] is None  # never shown: nothing is listed on a first visit
    assert results["saved"] == {"closedAt": "2026-12-04T10:00:00.500Z", "orderId": "0193-b"}
    assert results["otherUser"] is None
    # The walk stops at the marker itself, so a same-millisecond trade is never reached
    # behind it; one before it in the API's order is after it.
    assert results["after"] == [True, True, False, False]
    assert results["empty"] == {"closedAt": "", "orderId": None}
    assert results["afterEmpty"] is True  # an empty history: every trade since is news
    assert results["damaged"] == [None] * 5  # as on a first visit, never an error


COALESCED = """async () => {
  const { Coalesced } = await import("/static/js/pace.js");
  let runs = 0;
  let release;
  const loads = new Coalesced(() => {
    runs += 1;
    const number = runs;
    return new Promise((resolve) => { release = () => resolve(number); });
  }, 0);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  const burst = Array.from({ length: 20 }, () => loads.call());
  await settle();
  const duringFirst = [loads.call(), loads.call(), loads.call()];
  const runsBeforeRelease = runs;
  release();
  const first = await Promise.all(burst);
  await settle();
  const runsAfterFirst = runs;
  release();
  const second = await Promise.all(duringFirst);
  return { runsBeforeRelease, first, runsAfterFirst, second, runs };
}"""


def test_a_burst_of_reloads_costs_one_request_and_a_call_during_one_gets_a_fresh_one(
    module_page: Page,
) -> None:
    results: dict[str, Any] = module_page.evaluate(COALESCED)
    assert results["runsBeforeRelease"] == 1  # twenty calls at once: one request
    assert results["first"] == [1] * 20
    assert results["runsAfterFirst"] == 2  # the calls made during it share the next one
    assert results["second"] == [2, 2, 2]
    assert results["runs"] == 2
