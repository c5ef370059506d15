"""Ending a session everywhere (sign-out); see ``tradepro.api.revocations``."""

from __future__ import annotations

from tradepro.api.context import ApiContext
from tradepro.api.revocations import END_SESSION
from tradepro.api.security import TokenClaims
from tradepro.db.revocations import record_revocation


async def end_session(context: ApiContext, claims: TokenClaims) -> None:
    """Refuse this session's token here at once, durably in the database, then in every
    other API and WebSocket process (the engine passes ``end-session`` on to all of them
    as a ``session_ended`` callback, and the WebSocket server closes its connections).

    Idempotent: signing out again repeats each step harmlessly, so a sign-out that failed
    half-way (the bus down: a 503) is completed by trying again.
    """
    context.sessions.revoked.add(claims.token_id, claims.expires_at)
    await record_revocation(context.database, claims.token_id, claims.user_id, claims.expires_at)
    payload = {"userId": claims.user_id, "tokenId": claims.token_id, "expiresAt": claims.expires_at}
    await context.engine(END_SESSION, payload)
