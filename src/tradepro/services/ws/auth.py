"""Who a WebSocket client is: the session JWT offered at the handshake or in an ``auth``
message, verified exactly as the HTTP API verifies it (HS256 pinned, session kind only, so
a sign-in link token or an ``alg: none`` token is refused)."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers

from tradepro.api.security import SESSION, InvalidTokenError, TokenClaims, verify

TOKEN_COOKIE = "token"  # noqa: S105 (the cookie's name, not a secret)
BAD_TOKEN_CLOSE_CODE = 4401
"""Close code for a bad, expired or wrong-kind token (4000-4999: application codes)."""

__all__ = ["BAD_TOKEN_CLOSE_CODE", "InvalidTokenError", "handshake_token", "verify_session"]


def handshake_token(path: str, headers: Headers) -> str | None:
    """The token offered with the opening handshake, if any.

    ``?token=`` wins over ``Authorization: Bearer``, which wins over the ``token`` cookie:
    a client that names a token explicitly means that one, not an old browser cookie.
    """
    for value in parse_qs(urlsplit(path).query).get("token", []):
        if value:
            return value
    authorization = headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return _cookie(headers.get_all("Cookie"))


def _cookie(values: list[str]) -> str | None:
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load("; ".join(values))
    except CookieError:
        return None
    morsel = cookies.get(TOKEN_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def verify_session(secret: str, token: str) -> TokenClaims:
    """The claims of a valid session token; ``InvalidTokenError`` for anything else."""
    return verify(secret, token, SESSION)
