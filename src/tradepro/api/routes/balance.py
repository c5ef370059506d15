"""Your money: free balance, locked margin and equity at the live price."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tradepro.api.deps import Context, CurrentUser, limit_reads
from tradepro.api.schemas import BalanceOut, ErrorOut
from tradepro.protocol.kinds import Kind
from tradepro.protocol.replies import Account

router = APIRouter(prefix="/api/v1/balance", tags=["balance"])


@router.get(
    "/me",
    response_model=BalanceOut,
    responses={code: {"model": ErrorOut} for code in (401, 404, 429, 503, 504)},
)
async def balance_me(user: CurrentUser, context: Context) -> dict[str, Any]:
    """Free balance, locked margin, order margin (reserved by pending orders) and equity
    (balance + locked margin + order margin + unrealized PnL)."""
    await limit_reads(context, user)
    request = {"userId": user.id, "orders": False}
    account = await context.ask_engine(Kind.GET_ACCOUNT, request, Account)
    return {
        "balance": account.balance,
        "lockedMargin": account.locked_margin,
        "orderMargin": account.order_margin,
        "equity": account.equity,
    }
