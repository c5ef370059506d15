"""A user's trading statistics, computed by the database from ``existing_trades``.

Two statements: one of plain aggregates (counts and sums of the PnL, split by sign), and
one of window functions for the maximum drawdown of the realized equity: the running sum
of the PnL in close order (``closed_at``, then order id, the history's own order, which the
index ``(user_id, closed_at DESC, id DESC)`` gives), its running peak (from the start, 0),
and the largest fall from a peak. The sums are integers of cents on both databases
(``SUM`` of a ``BIGINT`` is ``numeric`` on PostgreSQL, exact); nothing is a float. They run
in the API's request, never in the engine.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.models import ExistingTrade


class TradeStats(NamedTuple):
    """Counts, and sums in cents."""

    trades: int
    wins: int
    losses: int
    total_pnl: int
    gross_profit: int
    gross_loss: int
    """The sum of the losing trades' PnL (zero or negative)."""
    max_drawdown: int
    """The largest fall of the realized equity from a previous peak (zero or positive)."""
    commission: int = 0
    """The commission the trades paid (zero or positive): the balance moved by
    ``total_pnl - commission``."""


async def trade_stats(database: AsyncEngine, user_id: str) -> TradeStats:
    pnl = ExistingTrade.pnl
    mine = ExistingTrade.user_id == user_id
    totals = select(
        func.count(),
        func.coalesce(func.sum(case((pnl > 0, 1), else_=0)), 0),
        func.coalesce(func.sum(case((pnl < 0, 1), else_=0)), 0),
        func.coalesce(func.sum(pnl), 0),
        func.coalesce(func.sum(case((pnl > 0, pnl), else_=0)), 0),
        func.coalesce(func.sum(case((pnl < 0, pnl), else_=0)), 0),
        func.coalesce(func.sum(ExistingTrade.commission), 0),
    ).where(mine)
    in_order = (ExistingTrade.closed_at, ExistingTrade.id)
    running = (
        select(
            func.sum(pnl).over(order_by=in_order, rows=(None, 0)).label("equity"),
            ExistingTrade.closed_at,
            ExistingTrade.id,
        )
        .where(mine)
        .subquery()
    )
    peaked = select(
        running.c.equity,
        func.max(running.c.equity)
        .over(order_by=(running.c.closed_at, running.c.id), rows=(None, 0))
        .label("peak"),
    ).subquery()
    drawdown = select(
        func.coalesce(
            func.max(case((peaked.c.peak > 0, peaked.c.peak), else_=literal(0)) - peaked.c.equity),
            0,
        )
    )
    async with database.connect() as connection:
        row = (await connection.execute(totals)).one()
        fall = (await connection.execute(drawdown)).scalar_one()
    trades, wins, losses, total, profit, loss, commission = (int(value) for value in row)
    return TradeStats(trades, wins, losses, total, profit, loss, max(0, int(fall)), commission)
