"""Your account events after a ``seq``: what the ws ``orders`` channel sent, from the
durable log (``tradepro.db.account_events``), for a program that polls or catches up."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from tradepro.api.deps import Context, CurrentUser, limit_reads
from tradepro.api.errors import ApiError
from tradepro.api.schemas import ErrorOut
from tradepro.db.account_events import EventsExpiredError, read_events

router = APIRouter(prefix="/api/v1/account", tags=["account"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 410, 422, 429, 503)
}
PAGE_MAX = 500
MAX_SEQ = 2**63 - 1


class EventsOut(BaseModel):
    events: list[dict[str, Any]] = Field(
        description='Each as the ws orders channel sent it: {"type": "order", "event", '
        '"seq", "order", ...}, in seq order, with no gap.'
    )
    nextCursor: int | None = Field(  # noqa: N815
        description="The seq to pass back as since for the next page; null when this page "
        "reached the newest event written so far (poll again later with the last seq)."
    )


@router.get("/events", response_model=EventsOut, responses=ERRORS)
async def account_events(
    user: CurrentUser,
    context: Context,
    since: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
) -> Response:
    """Your order events after the seq ``since`` (0: every event still kept), oldest first,
    at most ``limit`` (1-500). 410 ``events_expired`` if some after ``since`` are no longer
    kept: read your orders again from the other routes and follow from the newest seq."""
    await limit_reads(context, user)
    try:
        rows = await read_events(context.database, user.id, since, limit)
    except EventsExpiredError as error:
        raise ApiError(410, "events_expired", str(error)) from None
    except (SQLAlchemyError, OSError):
        raise ApiError(
            503, "unavailable", "the events cannot be read now (database unavailable)"
        ) from None
    next_cursor = rows[-1][0] if len(rows) == limit else None
    # The log keeps each event's JSON: joined as it is, never parsed again.
    body = b'{"events":[%b],"nextCursor":%b}' % (
        b",".join(payload.encode() for _, payload in rows),
        orjson.dumps(next_cursor),
    )
    return Response(body, media_type="application/json")
