"""Equity over time, rebuilt from what was recorded: a walk of the account's cash and of
the positions open at each point, valued at a recorded price.

The equity at a point ``t`` is the engine's equity as it stood just before ``t``:

- **cash** (free balance + locked margin + order margin): the sum of every cash change
  strictly before ``t``. The changes come from independent sources of ``(time, cents)``
  (the starting deposit, each closed trade's realized PnL less its close commission, each
  position's open commission at its open); another kind of change (a deposit, a reset) is
  one more source, nothing else changes;
- plus the **unrealized PnL** of the positions opened before ``t`` and not closed before
  it, exactly as the engine values an account (per asset, the exact sum over its positions
  rounded half-even to the cent once), at the price recorded for ``t``. An asset without a
  recorded price counts 0, as the engine counts an asset without a quote.

"Strictly before" makes a time kept to the millisecond (the engine's rendered ``createdAt``)
as good as one kept to the microsecond: points are whole minutes, and a time before a whole
millisecond stays before it once truncated to milliseconds.

Everything is an integer: cents, ticks, lots. Cost: O(log points) per change, then
O(points x assets held).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from tradepro.domain.orders import Side
from tradepro.domain.positions import Contract

_BUY = Side.BUY


class EquityPoint(NamedTuple):
    """One point, in cents: ``equity`` = cash + ``unrealized``."""

    time_us: int
    equity: int
    unrealized: int


class EquityWalk:
    """Changes and positions gathered by the point at which each first counts."""

    def __init__(self, times_us: Sequence[int]) -> None:
        if list(times_us) != sorted(set(times_us)):
            raise ValueError("points must be distinct and in increasing order")
        self.times_us = list(times_us)
        self._cash = [0] * len(times_us)
        self._exposure: dict[str, dict[int, list[int]]] = {}
        """Per asset, per point: the change of ``[buy qty, buy cost, sell qty, sell cost]``."""

    def first_point(self, time_us: int) -> int | None:
        """The index of the first point strictly after ``time_us``; None: after them all."""
        index = bisect_right(self.times_us, time_us)
        return index if index < len(self.times_us) else None

    def add_cash(self, time_us: int, cents: int) -> None:
        """A change of the cash at ``time_us`` (counted from the first point after it)."""
        index = self.first_point(time_us)
        if index is not None:
            self._cash[index] += cents

    def add_position(
        self,
        asset: str,
        side: Side,
        qty: int,
        open_price: int,
        *,
        opened_us: int,
        closed_us: int | None,
    ) -> None:
        """A position (or a closed part of one) open from ``opened_us`` until ``closed_us``
        (None: still open)."""
        cost = qty * open_price
        self._move(asset, side, opened_us, qty, cost)
        if closed_us is not None:
            self._move(asset, side, closed_us, -qty, -cost)

    def _move(self, asset: str, side: Side, time_us: int, qty: int, cost: int) -> None:
        index = self.first_point(time_us)
        if index is None:
            return
        change = self._exposure.setdefault(asset, {}).setdefault(index, [0, 0, 0, 0])
        offset = 0 if side is _BUY else 2
        change[offset] += qty
        change[offset + 1] += cost

    @property
    def assets(self) -> list[str]:
        """The assets held at some point (those whose prices are needed)."""
        return sorted(self._exposure)

    def points(
        self, contracts: Mapping[str, Contract], prices: Mapping[str, Sequence[int | None]]
    ) -> list[EquityPoint]:
        """Every point's equity; ``prices[asset][i]``: the price in ticks for point ``i``
        (None: none recorded). Both sides are valued at that one price."""
        cash = 0
        held = {asset: [0, 0, 0, 0] for asset in self._exposure}
        result: list[EquityPoint] = []
        for index, time_us in enumerate(self.times_us):
            cash += self._cash[index]
            unrealized = 0
            for asset, sums in held.items():
                change = self._exposure[asset].get(index)
                if change is not None:
                    for field in range(4):
                        sums[field] += change[field]
                series = prices.get(asset)
                price = None if series is None else series[index]
                buy_qty, buy_cost, sell_qty, sell_cost = sums
                if price is None or not (buy_qty or sell_qty):
                    continue
                raw = price * buy_qty - buy_cost + sell_cost - price * sell_qty
                unrealized += contracts[asset].cents(raw)
            result.append(EquityPoint(time_us, cash + unrealized, unrealized))
        return result


def open_commission(
    contract: Contract, commission: int, *, close_price: int, qty: int, margin: int, pnl: int
) -> int:
    """The share of a closed trade's ``commission`` paid when its position opened.

    The engine charges the close commission on the closing notional, never more than what
    the close pays out (margin + PnL, the PnL as recorded); the rest of the trade's
    commission was charged at the open. Computed with the instrument's commission rate of
    today, so it is kept within ``0..commission``: the total is always exact."""
    paid = max(margin + pnl, 0)
    close = min(contract.commission(close_price, qty), paid)
    return min(max(commission - close, 0), commission)
