"""Same-origin rules for what a browser sends on its own: the session cookie.

A browser attaches the ``token`` cookie to every request to our host, whichever page made
it, so a request authenticated by the cookie proves nothing about who wanted it. A write
(POST/PUT/PATCH/DELETE) authenticated that way, and a sign-in, are accepted only from our
own pages: ``Origin`` is one of the public origins (``ALLOWED_ORIGINS``, default the origin
of ``PUBLIC_URL``), or ``Sec-Fetch-Site`` says ``same-origin`` (or ``none``: the user typed
it). ``same-site`` is not enough: another port of the same host is the same site. A client
that sends ``Authorization: Bearer`` chose its token itself and needs none of this.

Stdlib only: the WebSocket server applies the same origins to cookie-authenticated
handshakes.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

CROSS_SITE = "cross_site"
CROSS_SITE_MESSAGE = (
    "refused: this request came from another web site's page, not from TradePro's own. "
    "If you meant it, do it from the TradePro page itself."
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SAME_ORIGIN_FETCHES = (b"same-origin", b"none")
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower-cased and without the default
    port, or None when it is not one (``null``, another scheme, no host)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def public_origins(public_url: str, allowed: Iterable[str] = ()) -> frozenset[str]:
    """The origins our own pages are served from (``allowed``, else ``public_url``'s)."""
    origins = {origin for origin in map(origin_of, allowed) if origin is not None}
    if not origins:
        own = origin_of(public_url)
        if own is not None:
            origins.update(_loopback_spellings(own))
    return frozenset(origins)


def _loopback_spellings(origin: str) -> set[str]:
    """A loopback origin under each of its names (``localhost``, ``127.0.0.1``, ``[::1]``),
    same scheme and port: one machine, one page, whichever name the browser was given."""
    scheme, _, rest = origin.partition("://")
    for name in _LOOPBACK_NAMES:
        if rest == name or rest.startswith(f"{name}:"):
            port = rest[len(name) :]
            return {f"{scheme}://{other}{port}" for other in _LOOPBACK_NAMES}
    return {origin}


def origin_allowed(origin: str | None, origins: frozenset[str]) -> bool:
    """Whether an ``Origin`` header names one of ``origins``."""
    if not origin:
        return False
    normalized = origin_of(origin)
    return normalized is not None and normalized in origins


def from_own_page(headers: Iterable[tuple[bytes, bytes]], origins: frozenset[str]) -> bool:
    """Whether raw ASGI ``headers`` show a request made by one of our own pages."""
    origin: str | None = None
    for name, value in headers:
        if name == b"sec-fetch-site" and value.strip().lower() in _SAME_ORIGIN_FETCHES:
            return True
        if name == b"origin":
            origin = value.decode("latin-1")
    return origin_allowed(origin, origins)
