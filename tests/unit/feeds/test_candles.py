"""One-minute candles of the mid: exact rounding, minutes, and merging across flushes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradepro.feeds.candles import Candle, CandleAggregator, merge, mid_ticks, minute_start_s

MINUTE_US = 60_000_000
T0 = 1_700_000_040 * 1_000_000  # a minute boundary (1_700_000_040 = 28_333_334 x 60)


def test_the_mid_rounds_half_to_even_ticks() -> None:
    assert mid_ticks(1_000_000, 1_000_004) == 1_000_002  # exact
    assert mid_ticks(1_000_000, 1_000_005) == 1_000_002  # 1_000_002.5 -> even 2
    assert mid_ticks(1_000_001, 1_000_006) == 1_000_004  # 1_000_003.5 -> even 4
    assert mid_ticks(7, 7) == 7


def test_a_minute_is_keyed_by_its_first_second() -> None:
    assert minute_start_s(T0) == T0 // 1_000_000
    assert minute_start_s(T0 + MINUTE_US - 1) == T0 // 1_000_000
    assert minute_start_s(T0 + MINUTE_US) == T0 // 1_000_000 + 60


def test_quotes_of_a_minute_make_one_ohlc_candle() -> None:
    candles = CandleAggregator()
    for offset_s, mid in ((0, 100), (10, 130), (20, 90), (59, 110)):
        candles.add("BTC_USDC", mid, mid, T0 + offset_s * 1_000_000, False)
    candles.add("BTC_USDC", 200, 200, T0 + MINUTE_US, True)  # the next minute
    candles.add("SOL_USDC", 50, 52, T0, False)
    start = T0 // 1_000_000
    assert candles.drain() == [
        Candle("BTC_USDC", start, 100, 130, 90, 110, 4, False),
        Candle("SOL_USDC", start, 51, 51, 51, 51, 1, False),
        Candle("BTC_USDC", start + 60, 200, 200, 200, 200, 1, True),
    ]
    assert candles.drain() == []


def test_a_minute_is_simulated_if_any_quote_was() -> None:
    candles = CandleAggregator()
    candles.add("BTC_USDC", 1, 1, T0, False)
    candles.add("BTC_USDC", 1, 1, T0 + 1, True)
    candles.add("BTC_USDC", 1, 1, T0 + 2, False)
    [candle] = candles.drain()
    assert candle.simulated


QUOTES = st.lists(
    st.tuples(
        st.sampled_from(["BTC_USDC", "ETH_USDC"]),
        st.integers(1, 10**9),
        st.integers(0, 100),
        st.integers(0, 3 * MINUTE_US),
        st.booleans(),
    ),
    min_size=1,
    max_size=60,
)


def flushed_in_two(
    quotes: list[tuple[str, int, int, int, bool]], split: int, fail_first: bool
) -> dict[tuple[str, int], Candle]:
    """Aggregate with a flush at ``split`` (merged like the database merges), optionally
    with that first flush failing and being retried with the second."""
    candles = CandleAggregator()
    stored: dict[tuple[str, int], Candle] = {}

    def save(batch: list[Candle]) -> None:
        for candle in batch:
            key = (candle.asset, candle.start_s)
            stored[key] = merge(stored[key], candle) if key in stored else candle

    ts = T0
    for index, (asset, bid, spread, step_us, simulated) in enumerate(quotes):
        if index == split:
            drained = candles.drain()
            if fail_first:
                candles.restore(drained)
            else:
                save(drained)
        ts += step_us
        candles.add(asset, bid, bid + spread, ts, simulated)
    save(candles.drain())
    return stored


@settings(max_examples=200)
@given(QUOTES, st.integers(0, 60), st.booleans())
def test_flushing_in_two_parts_gives_the_candles_of_one_flush(
    quotes: list[tuple[str, int, int, int, bool]], split: int, fail_first: bool
) -> None:
    assert flushed_in_two(quotes, split, fail_first) == flushed_in_two(quotes, -1, False)


def test_restored_candles_come_before_newer_quotes() -> None:
    candles = CandleAggregator()
    candles.add("BTC_USDC", 100, 100, T0, False)
    failed = candles.drain()
    candles.add("BTC_USDC", 120, 120, T0 + 1, False)
    candles.restore(failed)
    [candle] = candles.drain()
    assert (candle.open, candle.close, candle.high, candle.low, candle.quotes) == (
        100, 120, 120, 100, 2,
    )  # fmt: skip


def test_pending_candles_are_bounded_dropping_the_oldest_minutes() -> None:
    candles = CandleAggregator(max_pending=3)
    for minute in range(5):
        candles.add("BTC_USDC", 1, 1, T0 + minute * MINUTE_US, False)
    assert len(candles) == 3
    assert candles.discarded == 2
    assert [candle.start_s for candle in candles.drain()] == [
        T0 // 1_000_000 + 60 * minute for minute in (2, 3, 4)
    ]


@pytest.mark.parametrize("simulated", [False, True])
def test_merge_keeps_the_first_open_and_the_last_close(simulated: bool) -> None:
    first = Candle("BTC_USDC", 60, 10, 15, 8, 12, 3, False)
    second = Candle("BTC_USDC", 60, 11, 20, 9, 14, 2, simulated)
    assert merge(first, second) == Candle("BTC_USDC", 60, 10, 20, 8, 14, 5, simulated)
