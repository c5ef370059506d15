"""Closed trades written straight into the database (as the engine writes them), for tests
of what the API reads back: history filters, the CSV export, the statistics."""

from __future__ import annotations

import random
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.snapshot_store import SnapshotStore
from tradepro.domain.events import ClosedTrade
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import CloseReason, Side
from tradepro.domain.positions import Position

T0_US = 1_780_000_000_000_000
"""2026-05-28T20:26:40Z."""
ASSETS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")


def trade(
    user_id: str,
    closed_us: int,
    rng: random.Random,
    *,
    asset: str = "BTC_USDC",
    side: Side = Side.BUY,
    reason: CloseReason = CloseReason.USER,
    pnl: int = 5,
) -> ClosedTrade:
    """A closed trade of ``user_id`` at ``closed_us``, with a fresh time-ordered id."""
    opened_us = closed_us - rng.randrange(1, 10**9)
    order_id = new_order_id(opened_us // 1000, rng.getrandbits(74))
    position = Position(
        0, order_id, user_id, asset, side, 100, 10, 950_000, 950, None, None, 860_000, None,
        opened_us,
    )  # fmt: skip
    return ClosedTrade(position, 950_500, pnl, reason, closed_us)


def mixed(user_id: str, count: int, rng: random.Random, step_us: int = 1000) -> list[ClosedTrade]:
    """``count`` trades of every asset, side and reason, some at the same microsecond."""
    return [
        trade(
            user_id,
            T0_US + (index // 2) * step_us,
            rng,
            asset=rng.choice(ASSETS),
            side=rng.choice(list(Side)),
            reason=rng.choice(list(CloseReason)),
            pnl=rng.randrange(-5000, 5000),
        )
        for index in range(count)
    ]


async def record(database: AsyncEngine, trades: Sequence[ClosedTrade], batch: int = 5000) -> None:
    store = SnapshotStore(database)
    for start in range(0, len(trades), batch):
        await store.record_trades(trades[start : start + batch])
