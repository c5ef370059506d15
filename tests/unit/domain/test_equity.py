"""The equity walk: what counts at a point (strictly before it), exact per-asset rounding,
and the open share of a trade's commission."""

from __future__ import annotations

import pytest

from tradepro.domain.equity import EquityPoint, EquityWalk, open_commission
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.domain.orders import Side
from tradepro.domain.positions import Contract

BTC = Contract(DEFAULT_INSTRUMENTS["BTC_USDC"])
CONTRACTS = {"BTC_USDC": BTC}
BTC_10_BPS = Contract(DEFAULT_INSTRUMENTS["BTC_USDC"]._replace(commission_bps=10))


def test_a_change_counts_from_the_first_point_strictly_after_it() -> None:
    walk = EquityWalk([60, 120, 180])
    walk.add_cash(-5, 1000)  # before every point
    walk.add_cash(60, 1)  # exactly at a point: from the next one
    walk.add_cash(119, 10)
    walk.add_cash(180, 10_000)  # at the last point: never counted
    assert [point.equity for point in walk.points({}, {})] == [1000, 1011, 1011]


def test_positions_are_valued_per_asset_rounded_once_and_unpriced_count_zero() -> None:
    walk = EquityWalk([100, 200, 300])
    # Two buys of 0.00001 BTC: each moves 0.5 cent per 0.1 USD... rounded once for the sum.
    walk.add_position("BTC_USDC", Side.BUY, 1, 950_000, opened_us=50, closed_us=250)
    walk.add_position("BTC_USDC", Side.BUY, 1, 950_000, opened_us=150, closed_us=None)
    walk.add_position("BTC_USDC", Side.SELL, 3, 950_100, opened_us=150, closed_us=None)
    prices = {"BTC_USDC": [955_000, None, 950_050]}
    assert walk.assets == ["BTC_USDC"]
    # 100: (955,000 - 950,000) x 1 = 5,000 -> 0.5 cent -> half-even 0; 200: no price;
    # 300: one buy (+50) and the sells (+150): 200 / 10,000 -> 0.02 cent -> 0.
    assert walk.points(CONTRACTS, prices) == [
        EquityPoint(100, 0, 0), EquityPoint(200, 0, 0), EquityPoint(300, 0, 0)
    ]  # fmt: skip
    bigger = EquityWalk([100])
    bigger.add_position("BTC_USDC", Side.BUY, 3, 950_000, opened_us=0, closed_us=None)
    bigger.add_position("BTC_USDC", Side.BUY, 3, 950_000, opened_us=0, closed_us=None)
    # Each alone: 3 x 5,000 / 10,000 = 1.5 -> 2 cents; together 3.0 -> 3 (not 4).
    assert bigger.points(CONTRACTS, {"BTC_USDC": [955_000]}) == [EquityPoint(100, 3, 3)]


def test_points_must_be_distinct_and_increasing() -> None:
    with pytest.raises(ValueError, match="increasing"):
        EquityWalk([120, 60])
    with pytest.raises(ValueError, match="distinct"):
        EquityWalk([60, 60])


def test_the_open_share_of_a_commission_is_what_the_close_did_not_charge() -> None:
    # 0.01 BTC: 0.95 at 95,000.0 and 0.96 at 96,000.0 (10 bps, rounded up).
    both = dict(close_price=960_000, qty=1000, margin=9500)
    assert open_commission(BTC_10_BPS, 191, **both, pnl=1000) == 95
    # A margin call that left 0.50 to pay out: the close charged only that.
    assert open_commission(BTC_10_BPS, 145, **both, pnl=-9450) == 95
    # Nothing left: no close commission at all.
    assert open_commission(BTC_10_BPS, 95, **both, pnl=-9500) == 95
    # A rate lowered since: never more than the commission, never below 0.
    assert open_commission(BTC, 191, **both, pnl=1000) == 191
    assert open_commission(BTC_10_BPS, 50, **both, pnl=1000) == 0
