"""Your trading statistics, from your closed trades (``tradepro.db.queries.stats``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from tradepro.api.deps import Context, CurrentUser
from tradepro.api.errors import ApiError
from tradepro.api.schemas import ErrorOut, StatsOut
from tradepro.db.queries.stats import TradeStats, trade_stats
from tradepro.domain.fixed import USD_DECIMALS, div_round_half_even, format_scaled

router = APIRouter(prefix="/api/v1/account", tags=["account"])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (401, 429, 503)}
RATIO_DECIMALS = 4
"""Win rate and profit factor: rounded half-even to 4 decimals."""


@router.get("/stats", response_model=StatsOut, responses=ERRORS)
async def account_stats(user: CurrentUser, context: Context) -> dict[str, Any]:
    """Trades, win rate, total PnL, average win and loss, profit factor and the largest
    drawdown of your realized equity, from every trade you closed."""
    context.reads.enforce(user.limit_key)
    try:
        stats = await trade_stats(context.database, user.id)
    except (SQLAlchemyError, OSError):
        raise ApiError(
            503, "unavailable", "the statistics cannot be read now (database unavailable)"
        ) from None
    return public_stats(stats)


def public_stats(stats: TradeStats) -> dict[str, Any]:
    """Money as decimal strings of cents; ratios rounded half-even; null where undefined
    (no trades, no wins, no losses)."""
    return {
        "trades": stats.trades,
        "wins": stats.wins,
        "losses": stats.losses,
        "winRate": _ratio(stats.wins, stats.trades),
        "totalPnl": _usd(stats.total_pnl),
        "grossProfit": _usd(stats.gross_profit),
        "grossLoss": _usd(stats.gross_loss),
        "averageWin": _average(stats.gross_profit, stats.wins),
        "averageLoss": _average(stats.gross_loss, stats.losses),
        "profitFactor": _ratio(stats.gross_profit, -stats.gross_loss),
        "maxDrawdown": _usd(stats.max_drawdown),
    }


def _usd(cents: int) -> str:
    return format_scaled(cents, USD_DECIMALS)


def _average(cents: int, count: int) -> str | None:
    return None if count == 0 else _usd(div_round_half_even(cents, count))


def _ratio(numerator: int, denominator: int) -> str | None:
    if denominator == 0:
        return None
    scaled = div_round_half_even(numerator * 10**RATIO_DECIMALS, denominator)
    return format_scaled(scaled, RATIO_DECIMALS)
