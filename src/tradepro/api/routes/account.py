"""Your account: trading statistics (``tradepro.db.queries.stats``), and paper money in
or out: reset the account, deposit (engine commands, ``tradepro.engine.account_ops``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from tradepro.api.decimal_json import DecimalJsonRoute
from tradepro.api.deps import (
    Context,
    CurrentUser,
    SessionOnlyUser,
    SessionUser,
    limit_orders,
    limit_reads,
)
from tradepro.api.errors import ApiError
from tradepro.api.history import micros
from tradepro.api.idempotency import IdempotencyKey, create_once
from tradepro.api.schemas import (
    AccountLimitsOut,
    DepositIn,
    ErrorOut,
    LedgerOut,
    ResetIn,
    StatsOut,
)
from tradepro.bus.requests import new_request_id
from tradepro.db.queries.ledger import ledger_entry
from tradepro.db.queries.stats import TradeStats, trade_stats
from tradepro.domain.fixed import (
    USD_DECIMALS,
    InvalidNumberError,
    div_round_half_even,
    format_scaled,
    parse_scaled,
)
from tradepro.protocol.kinds import Kind
from tradepro.protocol.render import iso_time
from tradepro.protocol.replies import Account, LedgerReply

router = APIRouter(prefix="/api/v1/account", tags=["account"], route_class=DecimalJsonRoute)
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (401, 429, 503)}
RATIO_DECIMALS = 4
"""Win rate and profit factor: rounded half-even to 4 decimals."""


@router.get("/stats", response_model=StatsOut, responses=ERRORS)
async def account_stats(user: CurrentUser, context: Context) -> dict[str, Any]:
    """Trades, win rate, total PnL, average win and loss, profit factor, the largest
    drawdown of your realized equity, and the commission paid, from every trade you
    closed."""
    await limit_reads(context, user)
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
        "commission": _usd(stats.commission),
        "netPnl": _usd(stats.total_pnl - stats.commission),
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


WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 422, 429, 503, 504)
}


@router.get(
    "/limits",
    response_model=AccountLimitsOut,
    responses={code: {"model": ErrorOut} for code in (401, 404, 429, 503, 504)},
)
async def account_limits(user: CurrentUser, context: Context) -> dict[str, Any]:
    """What may still be deposited today (UTC day of the engine's clock), the limits, and
    the balance a reset sets by default."""
    await limit_reads(context, user)
    request = {"userId": user.id, "orders": False}
    account = await context.ask_engine(Kind.GET_ACCOUNT, request, Account)
    settings = context.settings
    return {
        "depositAllowance": account.deposit_allowance,
        "dailyDepositCap": _usd(settings.daily_deposit_cap_cents),
        "maxPaperBalance": _usd(settings.max_paper_balance_cents),
        "startingBalance": _usd(settings.starting_balance_cents),
    }


@router.post("/reset", response_model=LedgerOut, responses=WRITE_ERRORS)
async def reset_account(
    body: ResetIn,
    user: SessionOnlyUser,
    context: Context,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Start over: every open position is closed at the live price (reason ``reset``),
    every pending order cancelled, and the free balance set to ``balance`` (default: the
    starting balance; at most ``MAX_PAPER_BALANCE``). Refused whole, with nothing changed,
    when an open position's asset has no fresh price (503 ``no_price`` or ``stale_price``).
    Signed-in people only: an API key gets 403 ``session_required``."""
    payload: dict[str, Any] = {"userId": user.id}
    if body.balance is not None:
        payload["balance"] = _usd_text(body.balance, "balance", allow_zero=True)
    return await _ledger_command(
        context,
        user,
        Kind.RESET_ACCOUNT,
        payload,
        idempotency_key=idempotency_key,
    )


@router.post("/deposit", response_model=LedgerOut, responses=WRITE_ERRORS)
async def deposit(
    body: DepositIn,
    user: CurrentUser,
    context: Context,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Add paper money to the free balance: at most ``DAILY_DEPOSIT_CAP`` per UTC day
    (409 ``deposit_limit`` names what is left today), and the account may then hold at most
    ``MAX_PAPER_BALANCE`` (409 ``balance_limit``). With an API key: scope ``trade``."""
    payload = {"userId": user.id, "amount": _usd_text(body.amount, "amount")}
    return await _ledger_command(
        context, user, Kind.DEPOSIT, payload, idempotency_key=idempotency_key
    )


async def _ledger_command(
    context: Context,
    user: SessionUser,
    kind: Kind,
    payload: dict[str, Any],
    *,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """Ask the engine once under a fresh request id (which it applies at most once); with
    an ``Idempotency-Key``, a retry gets the first answer (as for create-order)."""
    name = "reset" if kind is Kind.RESET_ACCOUNT else "deposit"

    async def send(request_id: str) -> dict[str, Any]:
        await limit_orders(context, user)
        reply = await context.ask_engine(kind, payload, LedgerReply, request_id=request_id)
        return _ledger_out(request_id, name, reply)

    if idempotency_key is None:
        return await send(new_request_id())

    async def resolve(request_id: str, duplicate: ApiError) -> dict[str, Any]:
        row = await ledger_entry(context.database, user.id, request_id)
        if row is None:
            raise duplicate
        return {
            "id": row.id,
            "kind": row.kind,
            "amount": _usd(row.amount),
            "balance": _usd(row.balance_after),
            "at": iso_time(micros(row.created_at)),
        }

    return await create_once(
        context.idempotency,
        user.id,
        idempotency_key,
        {"kind": name, **payload},
        retention_s=context.settings.idempotency_retention_s,
        new_id=new_request_id,
        send=send,
        resolve=resolve,
    )


def _ledger_out(request_id: str, kind: str, reply: LedgerReply) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": request_id,
        "kind": kind,
        "amount": reply.amount,
        "balance": reply.balance,
        "at": reply.at,
    }
    if reply.deposit_allowance is not None:
        out["depositAllowance"] = reply.deposit_allowance
    if reply.closed_orders is not None:
        out["closedOrders"] = reply.closed_orders
        out["canceledOrders"] = reply.canceled_orders or []
    return out


def _usd_text(value: object, name: str, *, allow_zero: bool = False) -> str:
    """A USD amount in canonical form (cents), or 422 naming the field."""
    try:
        return _usd(parse_scaled(value, USD_DECIMALS, name, allow_zero=allow_zero))
    except InvalidNumberError as error:
        raise ApiError(422, "validation_error", str(error)) from None
