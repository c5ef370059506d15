"""Sessions that were signed out: refused by every API and WebSocket process at once.

A session token stays valid by its signature until it expires (7 days), so ending it
needs a list of the ended ones. Sign-out records the token's id (``jti``) with its expiry
in the ``revoked_sessions`` table (durable: a restarted process loads it) and then sends an
``end-session`` entry through the engine, which passes it on to ``callback-queue`` as a
``session_ended`` callback: every process already reads every callback, so each learns of
it within a batch. A process subscribes to the callbacks first and loads the table after,
so a sign-out is never missed in between. The check per request is one lookup in memory.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tradepro.protocol.replies import session_ended_in

_PRUNE_EVERY = 1024


class RevokedSessions:
    """Token ids of ended sessions, each until the token would have expired anyway."""

    def __init__(self) -> None:
        self._expiry_s: dict[str, int] = {}
        self._added = 0
        self.loaded = False
        """Whether the durable list has been loaded (until then this process only knows
        the sign-outs it saw on the bus)."""

    def __contains__(self, token_id: object) -> bool:
        return token_id in self._expiry_s

    @property
    def ids(self) -> Mapping[str, int]:
        """The ended token ids (a live view: ``in`` on it is the cheapest check)."""
        return self._expiry_s

    def __len__(self) -> int:
        return len(self._expiry_s)

    def add(self, token_id: str, expires_at_s: int) -> None:
        if expires_at_s <= time.time():
            return  # expired anyway: refused by its own ``exp``
        self._expiry_s[token_id] = expires_at_s
        self._added += 1
        if self._added % _PRUNE_EVERY == 0:
            self.prune()

    def load(self, revoked: Mapping[str, int]) -> None:
        """Merge the durable list (token id -> expiry, epoch seconds)."""
        for token_id, expires_at_s in revoked.items():
            self.add(token_id, expires_at_s)
        self.loaded = True

    def prune(self, now_s: float | None = None) -> None:
        """Forget the ids whose tokens have expired (they are refused without us)."""
        now_s = time.time() if now_s is None else now_s
        for token_id in [t for t, expiry in self._expiry_s.items() if expiry <= now_s]:
            del self._expiry_s[token_id]

    def see(self, body: Mapping[str, Any]) -> None:
        """A ``callback-queue`` subscriber: note each ``session_ended`` callback."""
        ended = session_ended_in(body)
        if ended is not None:
            self.add(ended.token_id, ended.expires_at_s)
