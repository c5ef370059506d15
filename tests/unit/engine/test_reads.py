"""Reads off the engine's loop (``engine.reads``): counts, not times.

A read of a user with 5,000 positions values and looks up at most one page of them, a
balance read none; the running sums give exactly the documented unrealized PnL (the exact
sum per asset, rounded half-even once) on random sequences, restores included; and pages
walk every open order once, in order id order.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.desk import BTC, Desk
from tradepro.domain.commands import ReportAccount
from tradepro.domain.events import AccountReported, PositionOpened
from tradepro.domain.fixed import POW10, USD_DECIMALS
from tradepro.domain.orders import Side
from tradepro.domain.positions import Position
from tradepro.engine import Engine, EngineConfig, core
from tradepro.engine.reads import PAGE_DEFAULT, PAGE_MAX
from tradepro.engine.snapshot import restore_snapshot, take_snapshot

ASSETS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")
QUOTES = {
    "BTC_USDC": (1_000_000, 1_000_005),
    "ETH_USDC": (300_000, 300_010),
    "SOL_USDC": (18_000, 18_001),
}
RICH = EngineConfig(starting_balance_cents=10**12)


class CountingPositions(dict[str, Position]):
    """An account's positions that count every look at them (a whole pass or one item)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.passes = 0
        self.lookups = 0

    def __iter__(self) -> Iterator[str]:
        self.passes += 1
        return super().__iter__()

    def values(self) -> Any:
        self.passes += 1
        return super().values()

    def items(self) -> Any:
        self.passes += 1
        return super().items()

    def __getitem__(self, key: str) -> Position:
        self.lookups += 1
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.lookups += 1
        return super().get(key, default)


def heavy_desk(positions: int) -> Desk:
    """Alice with ``positions`` open (1 lot each, both sides, all assets), quotes fresh."""
    desk = Desk(RICH)
    for asset, (bid, ask) in QUOTES.items():
        desk.tick(bid, ask, asset)
    for n in range(positions):
        desk.opened(Side.BUY if n % 3 else Side.SELL, qty=1, leverage=100, asset=ASSETS[n % 3])
    return desk


def read(desk: Desk, **fields: Any) -> AccountReported:
    desk.now_us += 1
    [report] = desk.engine.apply(ReportAccount(desk.next_id(), desk.now_us, "alice", **fields))
    assert isinstance(report, AccountReported), report
    return report


@pytest.fixture
def valuations(monkeypatch: pytest.MonkeyPatch) -> list[Position]:
    """Every position the engine values for a read (a spy on the valuation function)."""
    valued: list[Position] = []
    real = core.unrealized_pnl

    def spy(position: Position, *args: Any) -> int | None:
        valued.append(position)
        return real(position, *args)

    monkeypatch.setattr(core, "unrealized_pnl", spy)
    return valued


def test_a_5000_position_user_costs_a_read_one_page_and_a_balance_nothing(
    valuations: list[Position],
) -> None:
    desk = heavy_desk(5_000)
    account = desk.engine.accounts["alice"]
    counting = account.positions = CountingPositions(account.positions)
    first = read(desk)  # builds the account's sums and index: one pass, once
    assert counting.passes <= 2 and len(first.positions) == PAGE_DEFAULT
    counting.passes = counting.lookups = 0
    valuations.clear()

    cursor, listed = first.next_cursor, 0
    for _ in range(20):  # a bot polling: pages and balances, with orders in between
        page = read(desk, after=cursor, limit=PAGE_MAX)
        cursor, listed = page.next_cursor, listed + len(page.positions)
        desk.opened(qty=1, leverage=100)
        read(desk, orders=False)
    assert counting.passes == 0, "a read passed over every position"
    assert len(valuations) == listed <= 20 * PAGE_MAX  # only the listed ones were valued
    assert counting.lookups <= 20 * PAGE_MAX

    valuations.clear()
    counting.lookups = 0
    balance = read(desk, orders=False)
    assert valuations == [] and counting.lookups == 0 and counting.passes == 0
    assert balance.equity == balance.balance + balance.locked + exact_unrealized(desk.engine)


def test_one_order_is_found_by_its_id_alone(valuations: list[Position]) -> None:
    desk = heavy_desk(2_000)
    account = desk.engine.accounts["alice"]
    wanted = next(reversed(account.positions.values()))
    counting = account.positions = CountingPositions(account.positions)
    read(desk, orders=False)  # the sums are built on the first read
    counting.passes = 0
    found = read(desk, order_id=wanted.order_id)
    assert [position for position, *_ in found.positions] == [wanted]
    assert counting.passes == 0 and valuations == [wanted]
    missing = read(desk, order_id=desk.next_id())
    assert missing.positions == () and missing.next_cursor is None


def test_pages_walk_every_open_order_once_in_order_id_order() -> None:
    desk = heavy_desk(250)
    account = desk.engine.accounts["alice"]
    closing = sorted(account.positions)[::7]
    seen: list[str] = []
    cursor = None
    while True:
        page = read(desk, after=cursor, limit=40)
        seen += [position.order_id for position, *_ in page.positions]
        if closing:  # closed between pages, behind and ahead of the cursor
            desk.close(closing.pop())
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert set(account.positions) <= set(seen)


def test_a_cursor_from_another_account_lists_only_your_own() -> None:
    desk = heavy_desk(150)
    bob = desk.opened(qty=1, leverage=100, user="bob").position.order_id
    page = read(desk, after=bob, limit=PAGE_MAX)
    assert all(position.user_id == "alice" for position, *_ in page.positions)


def exact_unrealized(engine: Engine, user: str = "alice") -> int:
    """The documented figure, from the positions themselves: per asset with a quote, the
    exact sum of (close - open) x qty x sign in USD, rounded half-even to the cent once."""
    per_asset: dict[str, Fraction] = {}
    for position in engine.accounts[user].positions.values():
        quote = engine.quotes.get(position.asset)
        if quote is None:
            continue
        instrument = engine.config.instruments[position.asset]
        close = quote.bid if position.side is Side.BUY else quote.ask
        move = (close - position.open_price) * (1 if position.side is Side.BUY else -1)
        unit = POW10[instrument.price_decimals + instrument.qty_decimals]
        usd = Fraction(move * position.qty, unit)
        per_asset[position.asset] = per_asset.get(position.asset, Fraction(0)) + usd
    return sum(round(total * POW10[USD_DECIMALS]) for total in per_asset.values())  # half-even


STEP = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(ASSETS), st.sampled_from(Side),
              st.integers(1, 5_000), st.integers(1, 100)),
    st.tuples(st.just("close"), st.integers(0, 10**6)),
    st.tuples(st.just("tick"), st.sampled_from(ASSETS), st.integers(-300, 300)),
    st.tuples(st.just("restore")),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, max_size=60))
def test_the_running_sums_give_the_documented_unrealized_pnl(steps: list[tuple[Any, ...]]) -> None:
    desk = Desk(RICH)
    quotes = dict(QUOTES)
    for asset in ("BTC_USDC", "ETH_USDC"):  # SOL has no quote until a tick gives it one
        desk.tick(*quotes[asset], asset)
    read(desk, orders=False)  # alice's sums exist from the start: kept on every change
    for step in steps:
        if step[0] == "open" and step[1] in desk.engine.quotes:
            event = desk.order(step[2], qty=step[3], leverage=step[4], asset=step[1])
            assert isinstance(event, PositionOpened)
        elif step[0] == "close" and desk.engine.accounts["alice"].positions:
            order_ids = sorted(desk.engine.accounts["alice"].positions)
            desk.close(order_ids[step[1] % len(order_ids)])
        elif step[0] == "tick":  # may fire take-profits and margin calls: closes too
            bid, ask = quotes[step[1]]
            quotes[step[1]] = (max(1, bid + step[2]), max(1, bid + step[2]) + ask - bid)
            desk.tick(*quotes[step[1]], step[1])
        elif step[0] == "restore":  # a restored engine builds its sums on the first read
            desk.engine = restore_snapshot(take_snapshot(desk.engine), RICH)
        report = read(desk)
        engine = desk.engine
        # No open position is valued past its liquidation price (the tick that crosses it
        # closes it first), so the sums need no clamp at -margin.
        for position in engine.accounts["alice"].positions.values():
            quote = engine.quotes[position.asset]
            if position.side is Side.BUY:
                assert quote.bid > position.liquidation_price
            else:
                assert quote.ask < position.liquidation_price
        assert report.unrealized == exact_unrealized(engine)
        assert report.equity == report.balance + report.locked + exact_unrealized(engine)
        # The positions' own rounded figures differ by at most half a cent each.
        listed = read(desk, limit=PAGE_MAX)
        own = sum(pnl or 0 for _, pnl, _ in listed.positions)
        assert abs(report.unrealized - own) <= len(listed.positions) / 2 + len(ASSETS) / 2
        assert [p.order_id for p, *_ in listed.positions] == sorted(
            engine.accounts["alice"].positions
        )


def test_the_page_size_is_capped_by_the_engine() -> None:
    desk = heavy_desk(PAGE_MAX + 10)
    page = read(desk, limit=10 * PAGE_MAX)
    assert len(page.positions) == PAGE_MAX and page.next_cursor is not None
    assert BTC in {position.asset for position, *_ in page.positions}
