"""Reads that cost the engine's loop nothing in proportion to a user's positions.

An account's reads (balance/me, a page of get-open-orders, one order) run in the single
engine loop, between every other user's orders, so they must not value, sort or render
every position of an account on every poll. Each account gets an ``AccountReads`` the
first time it is read, built once from its positions, and from then on the engine keeps
it on every open and close (docs/architecture.md "Reads"):

- ``exposure``: per asset, four running sums: quantity and quantity x open price of the
  buys, and of the sells. Unrealized PnL at a quote is then exact arithmetic on them,
  ``bid x buy_qty - buy_cost + sell_cost - ask x sell_qty`` (in price x qty units), rounded
  half-even to the cent once per asset: O(assets held), whatever the number of positions.
- ``index``: the account's open order ids, sorted, built only for an account that has
  more open positions than one page (or is asked for a page after a cursor). Order ids
  are time-ordered UUIDs (version 7), so the order is the order the orders were made in;
  a page is a binary search for the cursor and a slice: O(log n + page). Users with a
  page or less of positions (the common case) keep no index: 8 bytes per position saved.

Why lazily built: a restored engine (``engine.snapshot``) restores only positions (and an
account's dict of them is itself built on the account's first use, ``Account.positions``);
the first read rebuilds what it needs from them, once.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping

from tradepro.domain.orders import Side
from tradepro.domain.positions import Contract, Position, close_price_for
from tradepro.engine.state import Account, Quote

PAGE_DEFAULT = 100
"""Positions listed by get-open-orders when the caller names no limit."""
PAGE_MAX = 500
"""The most positions one read lists (a larger limit is refused)."""

_BUY = Side.BUY

Exposure = list[int]
"""``[buy_qty, buy_cost, sell_qty, sell_cost]`` of one asset (cost: qty x open price)."""


class AccountReads:
    """What an account's reads need, kept up to date by the engine after it is built."""

    __slots__ = ("exposure", "index")

    def __init__(self, positions: Mapping[str, Position]) -> None:
        self.exposure: dict[str, Exposure] = {}
        self.index: list[str] | None = None
        for position in positions.values():
            self._add(position)

    def opened(self, position: Position) -> None:
        self._add(position)
        if self.index is not None:
            insort(self.index, position.order_id)  # a new id is normally the largest

    def closed(self, position: Position) -> None:
        sums = self.exposure[position.asset]
        cost = position.qty * position.open_price
        if position.side is _BUY:
            sums[0] -= position.qty
            sums[1] -= cost
        else:
            sums[2] -= position.qty
            sums[3] -= cost
        if not (sums[0] or sums[2]):
            del self.exposure[position.asset]
        index = self.index
        if index is not None:
            del index[bisect_left(index, position.order_id)]

    def _add(self, position: Position) -> None:
        sums = self.exposure.get(position.asset)
        if sums is None:
            sums = self.exposure[position.asset] = [0, 0, 0, 0]
        cost = position.qty * position.open_price
        if position.side is _BUY:
            sums[0] += position.qty
            sums[1] += cost
        else:
            sums[2] += position.qty
            sums[3] += cost

    def unrealized(self, contracts: Mapping[str, Contract], quotes: Mapping[str, Quote]) -> int:
        """The account's unrealized PnL in cents: per asset with a quote, the exact sum
        over its positions rounded half-even once; assets without a quote count 0."""
        total = 0
        for asset, (buy_qty, buy_cost, sell_qty, sell_cost) in self.exposure.items():
            quote = quotes.get(asset)
            if quote is not None:
                raw = quote.bid * buy_qty - buy_cost + sell_cost - quote.ask * sell_qty
                total += contracts[asset].cents(raw)
        return total

    def page(
        self, positions: Mapping[str, Position], after: str | None, limit: int
    ) -> tuple[list[Position], str | None]:
        """Up to ``limit`` positions whose order ids sort after ``after`` (from the first
        when None), in order id order, and the cursor of the next page (None at the end).
        ``positions`` is the account's own: an ``after`` from elsewhere finds nothing more
        than its place among this account's ids."""
        index = self.index
        if index is None:
            if after is None and len(positions) <= limit:
                return sorted(positions.values(), key=_order_id), None
            index = self.index = sorted(positions)
        start = 0 if after is None else bisect_right(index, after)
        ids = index[start : start + limit]
        more = start + limit < len(index)
        return [positions[order_id] for order_id in ids], ids[-1] if more else None


def reads_of(account: Account) -> AccountReads:
    """The account's ``AccountReads``, built on its first read."""
    reads = account.reads
    if reads is None:
        reads = account.reads = AccountReads(account.positions)
    return reads


def unrealized_pnl(
    position: Position, contracts: Mapping[str, Contract], quotes: Mapping[str, Quote]
) -> int | None:
    """One position's PnL in cents if it were closed at the last quote; None without one."""
    quote = quotes.get(position.asset)
    if quote is None:
        return None
    price = close_price_for(position.side, quote.bid, quote.ask)
    return contracts[position.asset].pnl(position, price)


def _order_id(position: Position) -> str:
    return position.order_id
