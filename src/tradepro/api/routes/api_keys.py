"""API keys for programs: make one (shown once), list them, revoke one everywhere.

Only a signed-in person manages keys (by session): a request made with an API key is
refused with 403 ``session_required``, so a leaked key cannot mint more keys or keep
itself alive.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy.exc import SQLAlchemyError

from tradepro.api.deps import Context, SessionOnlyUser
from tradepro.api.errors import ApiError
from tradepro.api.schemas import (
    ApiKeyCreatedOut,
    ApiKeyCreateIn,
    ApiKeyRevokedOut,
    ApiKeysOut,
    ErrorOut,
)
from tradepro.api.sessions import revoke_api_key
from tradepro.db.api_keys import KeyRow, TooManyKeysError, create_key, live_keys
from tradepro.security.api_keys import READ, SCOPES, SHOWN_PREFIX_CHARS, digest, new_key

router = APIRouter(prefix="/api/v1/auth/api-keys", tags=["auth"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 422, 503, 504)
}
MAX_LIVE_KEYS = 20
UNAVAILABLE = "the API keys cannot be read or written now (the database is unavailable); try again"


@router.post("", status_code=201, response_model=ApiKeyCreatedOut, responses=ERRORS)
async def create_api_key(
    body: ApiKeyCreateIn, user: SessionOnlyUser, context: Context
) -> dict[str, Any]:
    """Make a key for a program; the answer holds the key itself, shown this once."""
    name = _name(body.name)
    scopes = _scopes(body.scopes)
    key = new_key()
    try:
        row = await create_key(
            context.database,
            user.id,
            name,
            prefix=key[:SHOWN_PREFIX_CHARS],
            key_digest=digest(key),
            scopes=scopes,
            max_live=MAX_LIVE_KEYS,
        )
    except TooManyKeysError:
        raise ApiError(
            409,
            "too_many_keys",
            f"you have {MAX_LIVE_KEYS} API keys already: revoke one you no longer use first",
        ) from None
    except (SQLAlchemyError, OSError):
        raise ApiError(503, "unavailable", UNAVAILABLE) from None
    return _public(row) | {"key": key}


@router.get("", response_model=ApiKeysOut, responses=ERRORS)
async def list_api_keys(user: SessionOnlyUser, context: Context) -> dict[str, Any]:
    """Your keys that are not revoked, newest first (never the keys themselves)."""
    try:
        rows = await live_keys(context.database, user.id)
    except (SQLAlchemyError, OSError):
        raise ApiError(503, "unavailable", UNAVAILABLE) from None
    return {"keys": [_public(row) for row in rows]}


@router.delete("/{key_id}", response_model=ApiKeyRevokedOut, responses=ERRORS)
async def revoke(
    key_id: Annotated[str, Path(max_length=64)], user: SessionOnlyUser, context: Context
) -> dict[str, str]:
    """Revoke a key: refused at once by every API process and the WebSocket server (its
    open connections are closed)."""
    try:
        canonical = str(uuid.UUID(key_id))
    except ValueError:
        raise ApiError(422, "validation_error", "key_id: not an API key id") from None
    if canonical != key_id:
        raise ApiError(422, "validation_error", "key_id: not an API key id")
    await revoke_api_key(context, user.id, key_id)
    return {"id": key_id, "message": "API key revoked"}


def _name(name: str) -> str:
    name = name.strip()
    if not name or not name.isprintable():
        raise ApiError(
            422, "validation_error", "name: 1 to 64 printable characters (no control characters)"
        )
    return name


def _scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    chosen = set(scopes)
    if len(chosen) != len(scopes) or READ not in chosen:
        raise ApiError(
            422, "validation_error", 'scopes: ["read"] or ["read", "trade"], each at most once'
        )
    return tuple(scope for scope in SCOPES if scope in chosen)


def _public(row: KeyRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "scopes": list(row.scopes),
        "createdAt": _iso(row.created_at),
        "lastUsedAt": None if row.last_used_at is None else _iso(row.last_used_at),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
