"""API keys for programs: made, recognised and refused here; stored in ``db/api_keys.py``.

A key is ``tpk_`` and 43 URL-safe characters (256 random bits). The database keeps its
SHA-256 digest only: a key this random cannot be found from its digest, so no slow hash is
needed, and the lookup is one unique index. Each process remembers what it looked up for a
minute (``ApiKeyVerifier``); a revoked key is refused at once all the same, because its
revocation travels like a sign-out (an ``end-session`` entry whose token id is
``apikey-<key id>``, which every API process and the WebSocket server read and keep in
their list of ended sessions).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tradepro.security.revocations import RevokedSessions
from tradepro.security.tokens import InvalidTokenError

KEY_PREFIX = "tpk_"
SHOWN_PREFIX_CHARS = 12
"""How much of a key the list shows (``tpk_`` and 8 more characters)."""
READ = "read"
TRADE = "trade"
SCOPES = (READ, TRADE)
REVOCATION_PREFIX = "apikey-"
REMEMBER_REVOKED_S = 24 * 3600
"""How long a process keeps a revoked key's id in memory: far longer than it remembers a
looked-up key (``ApiKeyVerifier.ttl_s``), after which the database says it is revoked."""

_KEY = re.compile(r"tpk_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class KeyClaims:
    """Who a key acts for and what it may do."""

    key_id: str
    user_id: str
    email: str
    scopes: frozenset[str]

    @property
    def token_id(self) -> str:
        """The id its revocation travels under (see the module)."""
        return revocation_id(self.key_id)


def is_api_key(token: str) -> bool:
    """Whether a bearer token is meant as an API key (rather than a session JWT)."""
    return token.startswith(KEY_PREFIX)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def revocation_id(key_id: str) -> str:
    return REVOCATION_PREFIX + key_id


Lookup = Callable[[str], Awaitable[tuple[str, str, str, frozenset[str]] | None]]
"""The live (not revoked) key with this digest, from the database: the fields of
``KeyClaims`` in their order."""
Touch = Callable[[str], Awaitable[None]]
"""Record that the key with this id was used now."""


class ApiKeyVerifier:
    """Keys looked up once a minute per process, revoked ones refused at once.

    Unknown digests are remembered too (for the same minute): a key is random, so a digest
    nobody had cannot become valid, and a client retrying a wrong key costs no query.
    ``last used`` is written at most once a minute per key by each process.
    """

    def __init__(
        self,
        lookup: Lookup,
        touch: Touch,
        revoked: RevokedSessions,
        *,
        ttl_s: float = 60.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._touch = touch
        self._revoked_ids = revoked.ids
        self.ttl_s = ttl_s
        self._max_keys = max_keys
        self._clock = clock
        self._known: dict[str, tuple[KeyClaims | None, float]] = {}
        self._touched: dict[str, float] = {}

    async def verify(self, key: str) -> KeyClaims:
        """The claims of a live key; ``InvalidTokenError`` for anything else."""
        if _KEY.fullmatch(key) is None:
            raise InvalidTokenError("not an API key (tpk_ and 43 characters)")
        key_digest = digest(key)
        now = self._clock()
        known = self._known.get(key_digest)
        if known is None or known[1] <= now:
            found = await self._lookup(key_digest)
            claims = None if found is None else KeyClaims(*found)
            if len(self._known) >= self._max_keys:
                del self._known[next(iter(self._known))]
            self._known[key_digest] = (claims, now + self.ttl_s)
        else:
            claims = known[0]
        if claims is None:
            raise InvalidTokenError("unknown or revoked API key")
        if claims.token_id in self._revoked_ids:
            self._known.pop(key_digest, None)
            raise InvalidTokenError("the API key was revoked")
        if self._touched.get(claims.key_id, -self.ttl_s) + self.ttl_s <= now:
            self._touched[claims.key_id] = now
            if len(self._touched) > self._max_keys:
                self._touched = {k: t for k, t in self._touched.items() if t + self.ttl_s > now}
            await self._touch(claims.key_id)
        return claims
