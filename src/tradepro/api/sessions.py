"""Ending a session everywhere (sign-out); see ``tradepro.security.revocations``."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from tradepro.api.context import ApiContext
from tradepro.api.errors import ApiError
from tradepro.bus.requests import RequestTimeoutError
from tradepro.db.revocations import record_revocation
from tradepro.protocol.kinds import Kind
from tradepro.protocol.replies import SessionEnded
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
    payload = {"userId": claims.user_id, "tokenId": claims.token_id, "expiresAt": claims.expires_at}
    try:
        await context.ask_engine(Kind.END_SESSION, payload, SessionEnded)
    except RequestTimeoutError:
        raise ApiError(504, "timeout", NOT_CONFIRMED) from None
