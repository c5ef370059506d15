"""Create-order with an ``Idempotency-Key``: one order per key, the first answer on retries.

The key's row (``tradepro.db.idempotency``) is written before the engine is asked, with a
fresh order id; the first answer is written before the API answers. A retry with the same
key and the same order (however its numbers were spelled) gets that answer, from any API
process, until the retention has passed; with a different order it is refused (422
``idempotency_mismatch``). A row without an answer (a concurrent twin, or an API process
that died mid-request) sends the order again with the same order id, and the engine's rule
that an order id opens at most one position, ever, decides.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Header
from sqlalchemy.exc import SQLAlchemyError

from tradepro.api.errors import ApiError
from tradepro.db.idempotency import IdempotencyStore, KeyRecord
from tradepro.db.models import IDEMPOTENCY_KEY_LENGTH

log = logging.getLogger("tradepro.api")

IdempotencyKey = Annotated[str | None, Header(max_length=IDEMPOTENCY_KEY_LENGTH)]
"""The optional ``Idempotency-Key`` header of a write route."""
FINAL_STATUSES = frozenset({400, 404, 409, 422})
"""Engine answers that are the order's outcome and are stored; others (503: no fresh price
or the bus is down, 504: unknown outcome) leave the key open, so a retry sends it again."""
PURGE_BATCH = 1_000
PURGE_PAUSE_S = 0.05
"""Between two batches of a purge: the database serves requests in between."""

Send = Callable[[str], Awaitable[dict[str, Any]]]
"""Asks the engine to open the order under the given order id; returns the order."""
Resolve = Callable[[str, ApiError], Awaitable[dict[str, Any]]]
"""The order a ``duplicate_request`` for this order id refers to (or raises)."""


def fingerprint(payload: dict[str, Any]) -> str:
    """SHA-256 of the engine payload, whose numbers are already in canonical form."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def create_once(
    store: IdempotencyStore,
    user_id: str,
    key: str,
    payload: dict[str, Any],
    *,
    retention_s: float,
    new_id: Callable[[], str],
    send: Send,
    resolve: Resolve,
) -> dict[str, Any]:
    """The order for ``key``: opened now, or the first answer stored for it."""
    now = datetime.now(UTC)
    wanted = KeyRecord(fingerprint(payload), new_id(), None, None, now)
    try:
        stored, _ = await store.claim(user_id, key, wanted, now - timedelta(seconds=retention_s))
    except SQLAlchemyError as error:
        log.warning("idempotency key store unavailable: %s", error)
        raise ApiError(503, "unavailable", "orders cannot be placed now; retry later") from None
    if stored.fingerprint != wanted.fingerprint:
        raise ApiError(
            422,
            "idempotency_mismatch",
            "this Idempotency-Key was already used for a different order; "
            "send a new key for a new order",
        )
    if stored.status is not None and stored.response is not None:
        return _answer(stored.status, stored.response)
    try:
        try:
            order = await send(stored.order_id)
        except ApiError as error:
            if error.error != "duplicate_request":
                raise
            order = await resolve(stored.order_id, error)
    except ApiError as error:
        # Not an outcome: no fresh price, the bus is down, a timeout, a closed duplicate.
        if error.status not in FINAL_STATUSES or error.error == "duplicate_request":
            raise
        body = {"error": error.error, "message": error.message}
        return await _record(store, user_id, key, error.status, body)
    return await _record(store, user_id, key, 200, order)


async def _record(
    store: IdempotencyStore, user_id: str, key: str, status: int, body: dict[str, Any]
) -> dict[str, Any]:
    try:
        status, body = await store.record_answer(user_id, key, status, body)
    except SQLAlchemyError as error:
        log.warning("idempotency key store unavailable: %s", error)
        message = (
            "the order's outcome could not be recorded; retry with the same "
            "Idempotency-Key to get it"
        )
        raise ApiError(503, "unavailable", message) from None
    return _answer(status, body)


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    if status == 200:
        return body
    raise ApiError(status, str(body.get("error")), str(body.get("message")))


async def purge_forever(store: IdempotencyStore, retention_s: float, interval_s: float) -> None:
    """Delete expired keys every ``interval_s``, ``PURGE_BATCH`` at a time, until none is
    left; a failure (the database is down) is logged and retried next time."""
    while True:
        try:
            expired_before = datetime.now(UTC) - timedelta(seconds=retention_s)
            while await store.purge(expired_before, PURGE_BATCH) == PURGE_BATCH:
                await asyncio.sleep(PURGE_PAUSE_S)
        except Exception as error:  # noqa: BLE001 (any database failure: try again later)
            log.warning("could not delete expired idempotency keys (will retry): %s", error)
        await asyncio.sleep(interval_s)
