"""Who the client is behind a reverse proxy: ``X-Forwarded-For``, believed only from the
proxies named in ``TRUSTED_PROXIES``.

Anyone can send ``X-Forwarded-For``; only our own proxy's word counts. When the peer is a
trusted proxy, the client is the right-most address of the chain that is not itself a
trusted proxy (proxies append the address they saw, so the entries on the left are the
client's own claims); ``X-Forwarded-Proto`` sets the scheme likewise. From any other peer
both headers are ignored and the peer's address is the client's: the sign-up limit per
address then counts real connections. The server itself (uvicorn) is told to trust no
forwarded headers, so this is the only place that reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from starlette.types import ASGIApp, Receive, Scope, Send

_SCHEMES = {"http": ("http", "https"), "websocket": ("ws", "wss")}


class ForwardedFor:
    """ASGI middleware: ``scope["client"]`` (and ``scheme``) from trusted proxies' headers."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.networks: tuple[IPv4Network | IPv6Network, ...] = tuple(
            ip_network(proxy, strict=False) for proxy in trusted
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in _SCHEMES and client and self.trusted(client[0]):
            scope = self._forwarded(scope)
        await self.app(scope, receive, send)

    def trusted(self, address: str) -> bool:
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.networks)

    def client_of(self, chain: str) -> str | None:
        """The client in an ``X-Forwarded-For`` chain sent by a trusted proxy."""
        addresses = [part.strip() for part in chain.split(",") if part.strip()]
        for address in reversed(addresses):
            if not self.trusted(address):
                return address
        return addresses[0] if addresses else None

    def _forwarded(self, scope: Scope) -> Scope:
        chains: list[str] = []
        proto: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                chains.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[-1].strip().lower()
        scope = dict(scope)
        client = self.client_of(",".join(chains)) if chains else None
        if client is not None:
            scope["client"] = (client, 0)
        plain, secure = _SCHEMES[scope["type"]]
        if proto in ("http", "ws"):
            scope["scheme"] = plain
        elif proto in ("https", "wss"):
            scope["scheme"] = secure
        return scope
