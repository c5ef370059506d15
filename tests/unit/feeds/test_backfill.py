"""The simulated feed's first-run history: a seeded, marked day of one-minute candles."""

from __future__ import annotations

from itertools import pairwise

from tradepro.domain.fixed import parse_scaled
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.feeds.backfill import DAY_MINUTES, simulated_history
from tradepro.feeds.sim import START_PRICES

END_S = 1_796_425_980  # a minute's first second


def test_a_day_per_asset_ending_where_the_live_walk_starts_all_marked() -> None:
    candles = simulated_history(7, DEFAULT_INSTRUMENTS, END_S)
    assert len(candles) == DAY_MINUTES * len(DEFAULT_INSTRUMENTS)
    for symbol, instrument in DEFAULT_INSTRUMENTS.items():
        mine = [candle for candle in candles if candle.asset == symbol]
        assert [c.start_s for c in mine] == list(range(END_S - DAY_MINUTES * 60, END_S, 60))
        start = parse_scaled(START_PRICES[symbol], instrument.price_decimals, "start")
        assert mine[-1].close == start  # the chart runs on into the live walk
        for earlier, later in pairwise(mine):
            assert later.open == earlier.close
        for candle in mine:
            assert candle.low <= min(candle.open, candle.close)
            assert candle.high >= max(candle.open, candle.close)
            assert candle.low > 0
            assert all(isinstance(v, int) for v in (candle.open, candle.high, candle.low))
        moved = max(c.high for c in mine) / min(c.low for c in mine)
        assert 1.001 < moved < 2  # a plausible day: it moves, it does not explode
    assert all(c.simulated and c.backfill and c.quotes == 0 for c in candles)
    assert candles == sorted(candles, key=lambda candle: (candle.start_s, candle.asset))


def test_the_same_seed_gives_the_same_candles_and_another_seed_others() -> None:
    first = simulated_history(7, DEFAULT_INSTRUMENTS, END_S, minutes=60)
    assert simulated_history(7, DEFAULT_INSTRUMENTS, END_S, minutes=60) == first
    assert simulated_history(8, DEFAULT_INSTRUMENTS, END_S, minutes=60) != first
