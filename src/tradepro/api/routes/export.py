"""Your whole history as a CSV file, streamed (see ``tradepro.api.history``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from tradepro.api.deps import Context, CurrentUser, limit_reads
from tradepro.api.history import (
    AssetFilter,
    FromFilter,
    ReasonFilter,
    SideFilter,
    ToFilter,
    export_csv,
    trade_filter,
)
from tradepro.api.schemas import ErrorOut

router = APIRouter(prefix="/api/v1/trade", tags=["trade"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 422, 429, 503)
}
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "The trades, newest first, as CSV."}
}


@router.get("/export.csv", response_class=StreamingResponse, responses=CSV_RESPONSE | ERRORS)
async def export_trades(  # noqa: PLR0917 (the query's parameters)
    user: CurrentUser,
    context: Context,
    asset: AssetFilter = None,
    side: SideFilter = None,
    reason: ReasonFilter = None,
    closed_from: FromFilter = None,
    closed_to: ToFilter = None,
) -> StreamingResponse:
    """Every closed trade of yours that the filters keep (those of get-close-orders), newest
    first, as CSV with the get-close-orders fields as columns; streamed as it is read."""
    await limit_reads(context, user)
    kept = trade_filter(
        context.settings.instruments,
        asset=asset,
        side=side,
        reason=reason,
        closed_from=closed_from,
        closed_to=closed_to,
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        export_csv(context.database, user.id, kept, context.settings.instruments),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="tradepro-trades-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
