"""Signed-out sessions in the WebSocket server: their tokens are refused, and the
connections they authenticated are closed the moment the sign-out reaches this process.

The list comes from two places (``tradepro.security.revocations``): the ``session_ended``
callbacks, which this server reads anyway for order events, and the ``revoked_sessions``
table, loaded once the callback reader has started (so no sign-out falls between the two).
Until the table is loaded, a connection that offers a token is closed with 1013 ("try
again later"): this server cannot tell yet whether the token was signed out. Prices need
no token and flow meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.revocations import load_revocations
from tradepro.protocol.replies import session_ended_in
from tradepro.runtime.backoff import Backoff
from tradepro.runtime.retry import retry
from tradepro.security.api_keys import REVOCATION_PREFIX
from tradepro.security.revocations import RevokedSessions
from tradepro.services.ws.auth import SESSION_ENDED_CLOSE_CODE
from tradepro.services.ws.clients import Client
from tradepro.services.ws.hub import Hub

log = logging.getLogger("tradepro.ws")

SESSION_ENDED = "session_ended"
"""Why such clients were closed (the ``closedByServer`` count in ``/health``)."""
SESSION_ENDED_REASON = "session ended: signed out"
KEY_REVOKED_REASON = "session ended: API key revoked"


class SessionGuard:
    """The ended sessions, and which open connections each session authenticated."""

    def __init__(self, hub: Hub, *, backoff: Backoff | None = None) -> None:
        self.hub = hub
        self.revoked = RevokedSessions()
        self.backoff = backoff or Backoff(base_s=0.1, cap_s=5.0)
        self._clients: dict[str, set[Client]] = {}
        self._session_of: dict[Client, str] = {}

    @property
    def loaded(self) -> bool:
        """Whether the durable list is loaded (until then tokens cannot be judged)."""
        return self.revoked.loaded

    def admit(self, client: Client, token_id: str) -> bool:
        """Remember which session ``client`` belongs to; False if that session has ended."""
        if token_id in self.revoked:
            return False
        self._clients.setdefault(token_id, set()).add(client)
        self._session_of[client] = token_id
        return True

    def leave(self, client: Client) -> None:
        token_id = self._session_of.pop(client, None)
        clients = self._clients.get(token_id) if token_id is not None else None
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self._clients[token_id]  # type: ignore[arg-type]

    def on_callback(self, body: dict[str, Any]) -> None:
        """A ``callback-queue`` subscriber: a ``session_ended`` closes that session's
        connections (code 4401, reason "session ended: signed out", or "session ended:
        API key revoked" for a key)."""
        ended = session_ended_in(body)
        if ended is None:
            return
        self.revoked.add(ended.token_id, ended.expires_at_s)
        reason = (
            KEY_REVOKED_REASON
            if ended.token_id.startswith(REVOCATION_PREFIX)
            else SESSION_ENDED_REASON
        )
        for client in self._clients.pop(ended.token_id, set()):
            self._session_of.pop(client, None)
            self.hub.close(client, SESSION_ENDED_CLOSE_CODE, reason, SESSION_ENDED)

    async def load(self, database: AsyncEngine, reader_started: Callable[[], bool]) -> None:
        """Load the table once ``reader_started()`` holds, retrying while the database is
        down or not migrated yet."""
        while not reader_started():
            await asyncio.sleep(0.05)
        # Any failure is retried until the database answers; meanwhile connections with a
        # token are asked to come back.
        revoked = await retry(
            lambda: load_revocations(database),
            "loading the signed-out sessions",
            log,
            backoff=self.backoff,
        )
        self.revoked.load(revoked)
        log.info("ws: %d signed-out sessions loaded", len(revoked))
