"""Who a WebSocket client is: the session JWT offered at the handshake or in an ``auth``
message, verified exactly as the HTTP API verifies it (HS256 pinned, session kind only, so
a sign-in link token or an ``alg: none`` token is refused)."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers

from tradepro.security.origin import origin_allowed
from tradepro.security.tokens import SESSION, InvalidTokenError, TokenClaims, verify

TOKEN_COOKIE = "token"  # noqa: S105 (the cookie's name, not a secret)
BAD_TOKEN_CLOSE_CODE = 4401
"""Close code for a bad, expired or wrong-kind token (4000-4999: application codes)."""

SESSION_ENDED_CLOSE_CODE = 4401
"""A signed-out session's connections close with the bad-token code too: the token is no
longer valid, so a client signs in again rather than retrying; the reason says why."""

__all__ = [
    "BAD_TOKEN_CLOSE_CODE",
    "SESSION_ENDED_CLOSE_CODE",
    "InvalidTokenError",
    "cross_site_cookie",
    "handshake_credentials",
    "handshake_token",
    "verify_session",
]


def handshake_token(path: str, headers: Headers) -> str | None:
    """The token offered with the opening handshake, if any.

    ``?token=`` wins over ``Authorization: Bearer``, which wins over the ``token`` cookie:
    a client that names a token explicitly means that one, not an old browser cookie.
    """
    return handshake_credentials(path, headers)[0]


def handshake_credentials(path: str, headers: Headers) -> tuple[str | None, bool]:
    """``handshake_token``, and whether it is the cookie (which a browser sends whatever
    page opens the connection; see ``cross_site_cookie``)."""
    for value in parse_qs(urlsplit(path).query).get("token", []):
        if value:
            return value, False
    authorization = headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), False
    cookie = _cookie(headers.get_all("Cookie"))
    return cookie, cookie is not None


def cross_site_cookie(path: str, headers: Headers, origins: frozenset[str]) -> bool:
    """Whether a handshake would authenticate by the cookie from a page that is not ours.

    A browser sends the ``token`` cookie with a handshake from any page, and the page then
    reads what the socket receives: such a handshake must carry an ``Origin`` of our own
    pages (``PUBLIC_URL`` or ``ALLOWED_ORIGINS``). A client that offers its token itself
    (``?token=``, ``Authorization``, an ``auth`` message) needs no origin.
    """
    _, by_cookie = handshake_credentials(path, headers)
    return by_cookie and not origin_allowed(headers.get("Origin"), origins)


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
