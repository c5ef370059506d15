"""The simulated feed: seeded, exact integer quotes on the tick grid, bid < ask."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradepro.domain.fixed import parse_scaled
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS, Instrument
from tradepro.engine import Engine
from tradepro.feeds.sim import SimulatedFeed, SimulatedQuote
from tradepro.protocol.apply import apply_entry
from tradepro.protocol.kinds import Kind


def walk(feed: SimulatedFeed, steps: int) -> list[SimulatedQuote]:
    return [quote for _ in range(steps) for quote in feed.step()]


def spread_limit(quote: SimulatedQuote, spread_bps: float) -> int:
    """Most ticks a quote may span: 1.5x the spread share of the price, at least one tick."""
    return max(1, math.ceil(quote.ask * spread_bps * 1.5 / 10_000)) + 1


def test_same_seed_gives_the_same_quotes() -> None:
    first = walk(SimulatedFeed(random.Random(42)), 500)
    second = walk(SimulatedFeed(random.Random(42)), 500)
    assert first == second


def test_different_seeds_give_different_quotes() -> None:
    assert walk(SimulatedFeed(random.Random(1)), 50) != walk(SimulatedFeed(random.Random(2)), 50)


def test_one_quote_per_asset_per_step_in_table_order() -> None:
    feed = SimulatedFeed(random.Random(0))
    assert [quote.asset for quote in feed.step()] == list(DEFAULT_INSTRUMENTS)


@pytest.mark.parametrize(
    ("asset", "usd"), [("BTC_USDC", 95_000), ("ETH_USDC", 3_500), ("SOL_USDC", 180)]
)
def test_walks_start_near_realistic_prices(asset: str, usd: int) -> None:
    feed = SimulatedFeed(random.Random(5))
    quote = next(q for q in feed.step() if q.asset == asset)
    scale = 10 ** DEFAULT_INSTRUMENTS[asset].price_decimals
    assert abs(quote.bid - usd * scale) * 100 <= usd * scale  # within 1 %


def test_default_spread_is_a_few_ticks_or_basis_points() -> None:
    for quote in walk(SimulatedFeed(random.Random(9)), 1_000):
        assert quote.ask - quote.bid >= 1
        assert (quote.ask - quote.bid) * 10_000 <= max(quote.ask, 40_000)  # <= 1 bp or 4 ticks


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    volatility_bps=st.floats(min_value=0, max_value=300),
    spread_bps=st.floats(min_value=0, max_value=50),
)
def test_quotes_are_positive_integers_with_a_bounded_spread(
    seed: int, volatility_bps: float, spread_bps: float
) -> None:
    feed = SimulatedFeed(random.Random(seed), volatility_bps=volatility_bps, spread_bps=spread_bps)
    for quote in walk(feed, 100):
        assert type(quote.bid) is int and type(quote.ask) is int
        assert 0 < quote.bid < quote.ask
        assert quote.ask - quote.bid <= spread_limit(quote, spread_bps)


def test_prices_stay_positive_near_the_smallest_tick() -> None:
    tiny = {"PEPE_USDC": Instrument("PEPE_USDC", price_decimals=2, qty_decimals=0)}
    feed = SimulatedFeed(
        random.Random(3), tiny, start_prices={"PEPE_USDC": "0.02"}, volatility_bps=2_000
    )
    for quote in walk(feed, 5_000):
        assert 0 < quote.bid < quote.ask


def test_payloads_are_decimal_strings_on_the_tick_grid_marked_simulated() -> None:
    feed = SimulatedFeed(random.Random(11))
    for _ in range(100):
        for quote in feed.step():
            payload = feed.payload(quote)
            decimals = DEFAULT_INSTRUMENTS[quote.asset].price_decimals
            assert payload["simulated"] is True
            assert payload["asset"] == quote.asset
            for name, ticks in (("bid", quote.bid), ("ask", quote.ask)):
                text = payload[name]
                assert isinstance(text, str)
                assert len(text.partition(".")[2]) == decimals
                assert parse_scaled(text, decimals, name) == ticks


def test_step_payloads_advance_the_walk_like_step() -> None:
    quotes = SimulatedFeed(random.Random(4)).step()
    as_quotes = SimulatedFeed(random.Random(4))
    assert as_quotes.step_payloads() == [as_quotes.payload(quote) for quote in quotes]


def test_the_engine_accepts_every_payload() -> None:
    engine = Engine()
    feed = SimulatedFeed(random.Random(8), volatility_bps=50)
    for step in range(200):
        for payload in feed.step_payloads():
            assert apply_entry(engine, Kind.PRICE_UPDATE, f"px{step}", step, payload) == []
    assert set(engine.quotes) == set(DEFAULT_INSTRUMENTS)


def test_uses_the_instrument_table_it_is_given() -> None:
    table = {"DOGE_USDC": Instrument("DOGE_USDC", price_decimals=5, qty_decimals=0)}
    feed = SimulatedFeed(random.Random(1), table)
    (quote,) = feed.step()
    assert quote.asset == "DOGE_USDC"
    assert parse_scaled(feed.payload(quote)["bid"], 5, "bid") == quote.bid
    assert abs(quote.bid - 100 * 10**5) * 100 <= 100 * 10**5  # the fallback start: 100 USD


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_refuses_a_nonsensical_volatility_or_spread(bad: float) -> None:
    with pytest.raises(ValueError, match="volatility_bps"):
        SimulatedFeed(random.Random(0), volatility_bps=bad)
    with pytest.raises(ValueError, match="spread_bps"):
        SimulatedFeed(random.Random(0), spread_bps=bad)
