"""Ending a session (sign-out) or an API key (revocation) everywhere; see
``tradepro.security.revocations`` and ``tradepro.security.api_keys``."""

from __future__ import annotations

import time

from sqlalchemy.exc import SQLAlchemyError

from tradepro.api.context import ApiContext
from tradepro.api.errors import ApiError
from tradepro.bus.requests import RequestTimeoutError
from tradepro.db.api_keys import revoke_key
from tradepro.db.revocations import record_revocation
from tradepro.protocol.kinds import Kind
from tradepro.protocol.replies import SessionEnded
from tradepro.security.api_keys import REMEMBER_REVOKED_S, revocation_id
from tradepro.security.tokens import TokenClaims

NOT_RECORDED = "the sign-out could not be recorded now (the database is unavailable); try again"
NOT_CONFIRMED = (
    "signed out on this server, but the others were not confirmed in time (the engine did "
    "not answer); sign out again to be sure"
)


async def end_session(context: ApiContext, claims: TokenClaims) -> None:
    """Refuse this session's token here at once, durably in the database, then in every
    other API and WebSocket process (the engine passes ``end-session`` on to all of them
    as a ``session_ended`` callback, and the WebSocket server closes its connections).

    Idempotent: signing out again repeats each step harmlessly, so a sign-out that failed
    half-way (503 or 504) is completed by trying again.
    """
    context.sessions.revoked.add(claims.token_id, claims.expires_at)
    try:
        await record_revocation(
            context.database, claims.token_id, claims.user_id, claims.expires_at
        )
    except (SQLAlchemyError, OSError):
        raise ApiError(503, "unavailable", NOT_RECORDED) from None
    await _tell_every_process(context, claims.user_id, claims.token_id, claims.expires_at)


KEY_NOT_FOUND = "no such API key among yours (it may have been revoked already)"
KEY_NOT_RECORDED = "the key could not be revoked now (the database is unavailable); try again"
KEY_NOT_CONFIRMED = (
    "revoked on this server and in the database, but the other servers were not confirmed "
    "in time (the engine did not answer); revoke it again to be sure"
)


async def revoke_api_key(context: ApiContext, user_id: str, key_id: str) -> None:
    """Revoke the user's key: in the database (so a process that looks it up from now on
    refuses it), here at once, then in every other API and WebSocket process, exactly as a
    sign-out travels; the WebSocket server closes the connections it authenticated.

    Idempotent like sign-out: revoking again repeats the steps harmlessly (a key already
    revoked is still announced once more). 404 ``key_not_found`` if the user has no such
    key, whoever else may have one with that id."""
    try:
        found = await revoke_key(context.database, user_id, key_id)
    except (SQLAlchemyError, OSError):
        raise ApiError(503, "unavailable", KEY_NOT_RECORDED) from None
    if not found:
        raise ApiError(404, "key_not_found", KEY_NOT_FOUND)
    token_id = revocation_id(key_id)
    # The database says "revoked" for good; the processes need the id only while they may
    # still remember the key from an earlier lookup (a minute), so a day is plenty.
    expires_at_s = int(time.time()) + REMEMBER_REVOKED_S
    context.sessions.revoked.add(token_id, expires_at_s)
    await _tell_every_process(context, user_id, token_id, expires_at_s, KEY_NOT_CONFIRMED)


async def _tell_every_process(
    context: ApiContext,
    user_id: str,
    token_id: str,
    expires_at_s: int,
    not_confirmed: str = NOT_CONFIRMED,
) -> None:
    payload = {"userId": user_id, "tokenId": token_id, "expiresAt": expires_at_s}
    try:
        await context.ask_engine(Kind.END_SESSION, payload, SessionEnded)
    except RequestTimeoutError:
        raise ApiError(504, "timeout", not_confirmed) from None
