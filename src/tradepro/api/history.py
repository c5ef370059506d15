"""A user's closed trades as the API shows them: the filters of get-close-orders and the
CSV export, and one trade row rendered in the REST shape.

The export walks the history by keyset in batches (``closed_trades_page``, the same index
range as a page), writing each batch's CSV lines before it reads the next: however long the
history, the process holds one batch, never the whole result.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Query
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.api.errors import ApiError
from tradepro.db.queries.trades import TradeFilter, TradeRow, closed_trades_page
from tradepro.domain.fixed import USD_DECIMALS, format_scaled
from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import CloseReason
from tradepro.protocol.render import iso_time

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CLOSED_FIELDS = (
    "orderId", "tradeId", "asset", "side", "qty", "leverage", "openPrice", "closePrice", "pnl",
    "commission", "reason", "liquidated", "slippage", "createdAt", "closedAt",
)  # fmt: skip
"""A closed order's fields in get-close-orders (and the export's columns, in this order)."""
EXPORT_BATCH = 1000
REASONS = tuple(reason.value for reason in CloseReason)

AssetFilter = Annotated[
    str | None, Query(max_length=32, description="Only this asset (e.g. `BTC_USDC`).")
]
SideFilter = Annotated[Literal["buy", "sell"] | None, Query(description="Only this side.")]
ReasonFilter = Annotated[
    str | None,
    Query(max_length=32, description="Only trades closed for this reason (e.g. `stop_loss`)."),
]
FromFilter = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=40,
        description="Closed at or after this ISO 8601 time (with its offset, e.g. `Z`) or date.",
    ),
]
ToFilter = Annotated[
    str | None,
    Query(alias="to", max_length=40, description="Closed before this ISO 8601 time or date."),
]


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def trade_filter(
    instruments: Mapping[str, Instrument],
    *,
    asset: str | None,
    side: str | None,
    reason: str | None,
    closed_from: str | None,
    closed_to: str | None,
) -> TradeFilter:
    """The filters of a history request; a 422 naming the field for anything unknown."""
    if asset is not None and asset not in instruments:
        raise ApiError(
            422, "validation_error", f"asset: not one of {', '.join(sorted(instruments))}"
        )
    if reason is not None and reason not in REASONS:
        raise ApiError(422, "validation_error", f"reason: not one of {', '.join(REASONS)}")
    start = query_time("from", closed_from)
    end = query_time("to", closed_to)
    if start is not None and end is not None and start >= end:
        raise ApiError(422, "validation_error", "to: must be after from")
    return TradeFilter(asset, side, reason, start, end)


def query_time(field: str, value: str | None) -> datetime | None:
    """An ISO 8601 time with its offset (``2026-12-01T00:00:00Z``) or a date (midnight
    UTC); a time without an offset is refused rather than guessed."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422, "validation_error", f"{field}: not an ISO 8601 time (e.g. 2026-12-01T00:00:00Z)"
        ) from None
    if len(value) == len("2026-12-01"):
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        raise ApiError(422, "validation_error", f"{field}: give the time zone (e.g. Z for UTC)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last datetime in UTC
        raise ApiError(422, "validation_error", f"{field}: out of range") from None


def closed_order(row: TradeRow, instruments: Mapping[str, Instrument]) -> dict[str, Any]:
    """A closed trade in the REST shape (decimal strings, ISO times)."""
    instrument = instruments.get(row.asset)
    price_decimals = instrument.price_decimals if instrument else 0
    qty_decimals = instrument.qty_decimals if instrument else 0
    return {
        "orderId": row.order_id or row.id,
        "tradeId": row.id,
        "asset": row.asset,
        "side": row.side,
        "qty": format_scaled(row.quantity, qty_decimals),
        "leverage": row.leverage,
        "openPrice": format_scaled(row.open_price, price_decimals),
        "closePrice": format_scaled(row.close_price, price_decimals),
        "pnl": format_scaled(row.pnl, USD_DECIMALS),
        "commission": format_scaled(row.commission, USD_DECIMALS),
        "reason": row.reason,
        "liquidated": bool(row.liquidated),
        "slippage": row.slippage,
        "createdAt": iso_time(micros(row.created_at)),
        "closedAt": iso_time(micros(row.closed_at)),
    }


async def export_csv(
    database: AsyncEngine,
    user_id: str,
    kept: TradeFilter,
    instruments: Mapping[str, Instrument],
    batch: int = EXPORT_BATCH,
) -> AsyncIterator[bytes]:
    """The user's trades that ``kept`` keeps, newest first, as CSV: a header line, then
    one chunk per batch of rows. Empty cells for what a trade does not have (slippage)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CLOSED_FIELDS)
    after: tuple[datetime, str] | None = None
    while True:
        rows = await closed_trades_page(database, user_id, after, batch, kept)
        for row in rows:
            order = closed_order(row, instruments)
            writer.writerow(
                ["" if order[name] is None else _cell(order[name]) for name in CLOSED_FIELDS]
            )
        chunk = buffer.getvalue()
        if chunk:
            yield chunk.encode()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < batch:
            return
        after = (rows[-1].closed_at, rows[-1].id)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
