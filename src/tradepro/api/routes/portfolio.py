"""Your equity over time, rebuilt in the request from recorded data (docs/accounts.md
"Equity over time"): the closed trades and the recorded one-minute prices in the
database, and the positions open now from the engine's ordinary account read. Nothing is
sampled in the engine's loop."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy.exc import SQLAlchemyError

from tradepro.api.context import ApiContext
from tradepro.api.deps import Context, CurrentUser, SessionUser, limit_reads
from tradepro.api.errors import ApiError
from tradepro.api.history import EPOCH, FromFilter, ToFilter, micros, query_time
from tradepro.api.recent import KEEP_S
from tradepro.api.schemas import ErrorOut, PortfolioHistoryOut
from tradepro.db.queries import equity as recorded
from tradepro.domain.equity import EquityWalk, open_commission
from tradepro.domain.fixed import USD_DECIMALS, format_scaled, parse_scaled
from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import Side
from tradepro.domain.positions import Contract
from tradepro.engine.reads import PAGE_MAX
from tradepro.protocol.kinds import Kind
from tradepro.protocol.render import iso_time
from tradepro.protocol.replies import Account

router = APIRouter(prefix="/api/v1/account", tags=["account"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 422, 429, 503, 504)
}
Interval = Literal["1m", "1h", "1d"]
STEP_S: Mapping[str, int] = {"1m": 60, "1h": 3600, "1d": 86_400}
DEFAULT_SPAN_S: Mapping[str, int] = {"1m": 86_400, "1h": 30 * 86_400, "1d": 365 * 86_400}
MAX_SPAN_S: Mapping[str, int] = {"1m": 86_400, "1h": 90 * 86_400, "1d": 3660 * 86_400}
"""The longest span per interval: at most 1,440, 2,160 and 3,660 points."""
SPAN_WORDS: Mapping[str, str] = {"1m": "1 day", "1h": "90 days", "1d": "3660 days"}
MINUTE_S = 60
RECENT_MARGIN_S = 2 * KEEP_S
"""Rows closed since this long ago are matched with the recent closes by id."""
wall_clock_s: Callable[[], float] = time.time
"""Now, for the default and the bound of ``to`` (tests move it)."""
MAX_OPEN_PAGES = 20
"""Positions open now are read 500 at a time, each page counted as a read: at most 10,000."""


@router.get("/portfolio-history", response_model=PortfolioHistoryOut, responses=ERRORS)
async def portfolio_history(
    user: CurrentUser,
    context: Context,
    interval: Annotated[Interval, Query(description="Spacing of the points.")] = "1h",
    start: FromFilter = None,
    end: ToFilter = None,
) -> dict[str, Any]:
    """Your equity (cash plus the unrealized PnL of the positions open then, at the
    recorded price) at every multiple of the interval from ``from`` to ``to``, and at
    ``to``'s minute: 1m over at most 1 day, 1h over 90 days, 1d over 3660 days."""
    await limit_reads(context, user)
    first_s, last_s = _span(interval, query_time("from", start), query_time("to", end))
    try:
        signed_up = await recorded.signed_up_at(context.database, user.id)
    except (SQLAlchemyError, OSError):
        raise _unavailable() from None
    points_s = _points(interval, first_s, last_s, signed_up)
    body: dict[str, Any] = {
        "interval": interval,
        "from": iso_time(first_s * 1_000_000),
        "to": iso_time(last_s * 1_000_000),
        "points": [],
    }
    if not points_s or signed_up is None:
        return body
    instruments = context.settings.instruments
    contracts = {symbol: Contract(instrument) for symbol, instrument in instruments.items()}
    walk = EquityWalk([point * 1_000_000 for point in points_s])
    walk.add_cash(micros(signed_up), context.settings.starting_balance_cents)
    try:
        # In this order: the rows, then the engine, then the closes this process saw
        # meanwhile; a trade closed between two reads is found by the later one.
        written = await _add_trades(context, user.id, walk, contracts, points_s)
        await _add_deposits(context, user.id, walk, points_s)
        await _add_open_positions(context, user, walk, instruments)
        _add_recent_closes(context, user.id, walk, contracts, written)
        prices = {
            asset: await recorded.closes_at(context.database, asset, points_s, STEP_S[interval])
            for asset in walk.assets
        }
    except (SQLAlchemyError, OSError):
        raise _unavailable() from None
    body["points"] = [
        {
            "time": iso_time(point.time_us),
            "equity": format_scaled(point.equity, USD_DECIMALS),
            "unrealizedPnl": format_scaled(point.unrealized, USD_DECIMALS),
        }
        for point in walk.points(contracts, prices)
    ]
    return body


def _unavailable() -> ApiError:
    return ApiError(
        503, "unavailable", "the equity history cannot be read now (database unavailable)"
    )


def _span(interval: str, start: datetime | None, end: datetime | None) -> tuple[int, int]:
    """``from`` and ``to`` in whole seconds: ``to`` at most now (default now), ``from``
    by default the interval's usual span before it; 422 for an empty or too long span."""
    now_s = int(wall_clock_s())
    last_s = now_s if end is None else min(micros(end) // 1_000_000, now_s)
    first_s = last_s - DEFAULT_SPAN_S[interval] if start is None else -(-micros(start) // 1_000_000)
    if start is not None and end is not None and start >= end:
        raise ApiError(422, "validation_error", "to: must be after from")
    if first_s >= now_s:
        raise ApiError(422, "validation_error", "from: must be in the past")
    if first_s >= last_s:
        raise ApiError(422, "validation_error", "from, to: the span is shorter than a second")
    if last_s - first_s > MAX_SPAN_S[interval]:
        message = (
            f"from, to: {interval} points cover at most {SPAN_WORDS[interval]}; "
            "choose a shorter span or a wider interval"
        )
        raise ApiError(422, "validation_error", message)
    return first_s, last_s


def _points(interval: str, first_s: int, last_s: int, signed_up: datetime | None) -> list[int]:
    """The multiples of the interval in ``first_s..last_s``, then ``last_s``'s minute if
    it is not one; only points after the sign-up (before it there was no account)."""
    if signed_up is None:
        return []
    step = STEP_S[interval]
    signed_up_s = micros(signed_up) // 1_000_000  # a point t counts what happened before t
    start = max(first_s, signed_up_s + 1)
    start = -(-start // step) * step
    points = list(range(start, last_s + 1, step))
    last_minute = last_s - last_s % MINUTE_S
    if last_minute > signed_up_s and (not points or points[-1] < last_minute):
        points.append(last_minute)
    return points


async def _add_deposits(
    context: ApiContext, user_id: str, walk: EquityWalk, points_s: list[int]
) -> None:
    """Paper deposits and resets (``ledger_entries``): before the first point as one sum,
    after it each at its time. The positions a reset closed are trades like any other."""
    first = EPOCH + timedelta(seconds=points_s[0])
    walk.add_cash(0, await recorded.deposited_before(context.database, user_id, first))
    async for batch in recorded.deposits_since(context.database, user_id, first):
        for created_at, amount in batch:
            walk.add_cash(micros(created_at), amount)


async def _add_trades(
    context: ApiContext,
    user_id: str,
    walk: EquityWalk,
    contracts: Mapping[str, Contract],
    points_s: list[int],
) -> set[str]:
    """Closed trades: before the first point as one sum; after it, each with its open
    commission at its open, its PnL less close commission at its close, and its position."""
    database = context.database
    # The rows are read one by one from the first point, or from the oldest close this
    # process has seen lately if that is earlier (any close seen later is newer than
    # now - RECENT_MARGIN_S), and the ids of those recent rows are kept: the recent
    # closes already written.
    seen_us = [closed_us for closed_us, _ in context.recent_closes.of(user_id)]
    since_us = min([*seen_us, int((wall_clock_s() - RECENT_MARGIN_S) * 1_000_000)])
    recent_since = EPOCH + timedelta(microseconds=since_us)
    first = min(EPOCH + timedelta(seconds=points_s[0]), recent_since)
    last = EPOCH + timedelta(seconds=points_s[-1])
    written: set[str] = set()
    walk.add_cash(0, await recorded.realized_before(database, user_id, first))
    async for batch in recorded.trades_closed_since(database, user_id, first, last):
        for row in batch:
            if row.closed_at >= recent_since:
                written.add(row.id)
            opened_us, closed_us = micros(row.created_at), micros(row.closed_at)
            contract = contracts.get(row.asset)
            if contract is None:  # an instrument no longer traded: its result, at its close
                walk.add_cash(closed_us, row.pnl - row.commission)
                continue
            at_open = open_commission(
                contract,
                row.commission,
                close_price=row.close_price,
                qty=row.quantity,
                margin=row.margin,
                pnl=row.pnl,
            )
            walk.add_cash(opened_us, -at_open)
            walk.add_cash(closed_us, row.pnl - (row.commission - at_open))
            side = Side(row.side)
            walk.add_position(
                row.asset,
                side,
                row.quantity,
                row.open_price,
                opened_us=opened_us,
                closed_us=closed_us,
            )
    return written


async def _add_open_positions(
    context: ApiContext,
    user: SessionUser,
    walk: EquityWalk,
    instruments: Mapping[str, Instrument],
) -> None:
    """The positions open now, from the engine's account read (a page of 500 at a time,
    each page after the first counted as one more read)."""
    after: str | None = None
    for page in range(MAX_OPEN_PAGES):
        if page:
            await limit_reads(context, user)
        request: dict[str, Any] = {"userId": user.id, "limit": PAGE_MAX}
        if after is not None:
            request["after"] = after
        account = await context.ask_engine(Kind.GET_ACCOUNT, request, Account)
        for order in account.orders or ():
            _add_order(walk, order, instruments, None)
        after = account.next_cursor
        if after is None:
            return
    raise ApiError(
        422,
        "validation_error",
        f"more than {MAX_OPEN_PAGES * PAGE_MAX:,} open positions: too many to rebuild "
        "the equity history from",
    )


def _add_recent_closes(
    context: ApiContext,
    user_id: str,
    walk: EquityWalk,
    contracts: Mapping[str, Contract],
    written: set[str],
) -> None:
    """Trades closed moments ago whose rows were not among those read (``api/recent.py``),
    looked at after the engine's answer, so none falls between the two reads."""
    for closed_us, order in context.recent_closes.of(user_id):
        if order.get("tradeId", order["orderId"]) in written:
            continue
        contract = contracts.get(order["asset"])
        if contract is None:
            continue
        instrument = contract.instrument
        # The engine's own rendering: a value it cannot have written is a bug, not skipped.
        close_price = parse_scaled(order["closePrice"], instrument.price_decimals, "price")
        qty = parse_scaled(order["qty"], instrument.qty_decimals, "qty")
        margin, pnl, commission = (
            _cents(order[name], name) for name in ("margin", "pnl", "commission")
        )
        at_open = open_commission(
            contract, commission, close_price=close_price, qty=qty, margin=margin, pnl=pnl
        )
        _add_order(
            walk,
            order | {"commission": format_scaled(at_open, USD_DECIMALS)},
            {instrument.symbol: instrument},
            closed_us,
        )
        walk.add_cash(closed_us, pnl - (commission - at_open))


def _add_order(
    walk: EquityWalk,
    order: Mapping[str, Any],
    instruments: Mapping[str, Instrument],
    closed_us: int | None,
) -> None:
    """A position in the engine's rendering (``open_order``): its open commission at its
    open, and the position until ``closed_us`` (None: still open)."""
    instrument = instruments.get(order["asset"])
    if instrument is None:
        return
    qty = parse_scaled(order["qty"], instrument.qty_decimals, "qty")
    open_price = parse_scaled(order["openPrice"], instrument.price_decimals, "openPrice")
    commission = _cents(order.get("commission", "0"), "commission")
    opened_us = micros(datetime.fromisoformat(order["createdAt"]).astimezone(UTC))
    walk.add_cash(opened_us, -commission)
    side = Side(order["side"])
    walk.add_position(
        order["asset"], side, qty, open_price, opened_us=opened_us, closed_us=closed_us
    )


def _cents(text: str, field: str) -> int:
    """A signed amount of the engine's rendering (``"-0.10"``, ``"0.00"``) in cents."""
    if isinstance(text, str) and text.startswith("-"):
        return -parse_scaled(text[1:], USD_DECIMALS, field, allow_zero=True)
    return parse_scaled(text, USD_DECIMALS, field, allow_zero=True)
