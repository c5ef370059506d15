"""Latest quote per symbol: bursts collapse to the newest, each symbol paced on its own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradepro.feeds.coalesce import FeedQuote, LatestQuotes

ASSETS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")


def quote(asset: str = "BTC_USDC", bid: int = 100, received_us: int = 0) -> FeedQuote:
    return FeedQuote(asset, bid, bid + 1, received_us, False)


def test_a_burst_for_one_symbol_leaves_only_the_newest_quote() -> None:
    latest = LatestQuotes(max_rate_per_s=50)
    replaced = [latest.offer(quote(bid=100 + n)) for n in range(1000)]
    assert replaced == [False] + [True] * 999
    assert latest.take_ready(0.0) == [quote(bid=1099)]
    assert len(latest) == 0


def test_each_symbol_keeps_its_own_latest() -> None:
    latest = LatestQuotes(max_rate_per_s=50)
    for n, asset in enumerate(ASSETS * 3):
        latest.offer(quote(asset, bid=n))
    taken = sorted(latest.take_ready(0.0))
    assert taken == sorted([quote("BTC_USDC", 6), quote("ETH_USDC", 7), quote("SOL_USDC", 8)])


def test_a_symbol_is_handed_out_at_most_max_rate_times_a_second() -> None:
    latest = LatestQuotes(max_rate_per_s=10)  # one per 0.1 s
    latest.offer(quote(bid=1))
    assert latest.take_ready(5.0) == [quote(bid=1)]
    latest.offer(quote(bid=2))
    assert latest.take_ready(5.04) == []
    assert latest.seconds_until_ready(5.04) == pytest.approx(0.06)
    latest.offer(quote(bid=3))  # still waiting: replaces bid=2
    assert latest.take_ready(5.1) == [quote(bid=3)]
    assert latest.seconds_until_ready(5.1) is None  # nothing pending


def test_pacing_one_symbol_does_not_delay_another() -> None:
    latest = LatestQuotes(max_rate_per_s=1)
    latest.offer(quote("BTC_USDC"))
    assert latest.take_ready(0.0) == [quote("BTC_USDC")]
    latest.offer(quote("BTC_USDC", bid=5))
    latest.offer(quote("ETH_USDC"))
    assert latest.take_ready(0.5) == [quote("ETH_USDC")]
    assert latest.seconds_until_ready(0.5) == pytest.approx(0.5)


def test_a_quote_that_failed_to_publish_goes_back_unless_a_newer_one_came() -> None:
    latest = LatestQuotes(max_rate_per_s=1000)
    latest.offer(quote("BTC_USDC", bid=1))
    latest.offer(quote("ETH_USDC", bid=1))
    failed = latest.take_ready(0.0)
    latest.offer(quote("ETH_USDC", bid=2))  # arrived while the publish was failing
    superseded = latest.restore(failed)
    assert superseded == [quote("ETH_USDC", bid=1)]
    assert sorted(latest.take_ready(1.0)) == [quote("BTC_USDC", bid=1), quote("ETH_USDC", bid=2)]


def test_the_rate_must_be_positive() -> None:
    for rate in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="max_rate_per_s"):
            LatestQuotes(rate)


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.sampled_from(ASSETS), st.integers(1, 10**6), st.booleans()), max_size=300)
)
def test_pending_never_exceeds_one_per_symbol_and_is_always_the_newest(
    steps: list[tuple[str, int, bool]],
) -> None:
    latest = LatestQuotes(max_rate_per_s=100)
    newest: dict[str, FeedQuote] = {}
    handed_out: list[FeedQuote] = []
    clock = 0.0
    for asset, bid, take in steps:
        offered = quote(asset, bid)
        latest.offer(offered)
        newest[asset] = offered
        assert len(latest) <= len(ASSETS)
        if take:
            clock += 0.004
            handed_out.extend(latest.take_ready(clock))
    for asset, last in newest.items():
        assert latest.peek(asset) in (last, None)
        assert latest.peek(asset) == last or last in handed_out
