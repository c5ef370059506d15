"""The loud warning of ``tradepro up`` when anyone on the network could forge sessions.

With the development ``JWT_SECRET`` (public: it is in the source) anyone can sign a session
token for any user. On a loopback address only this machine reaches the services; on any
other address (``BIND_HOST``, e.g. ``0.0.0.0``: every interface) so does the network.
"""

from __future__ import annotations

from ipaddress import ip_address

from tradepro.config import DEV_JWT_SECRET, Settings

_RULE = "!" * 72
_EVERYWHERE = ("0.0.0.0", "::", "")  # noqa: S104 (the addresses that mean "all interfaces")


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the services reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def exposure_warning(settings: Settings) -> str | None:
    """The warning, or None when the secret is not the development one or the services
    listen on a loopback address only."""
    if settings.jwt_secret != DEV_JWT_SECRET or is_loopback(settings.bind_host):
        return None
    where = "every network interface" if settings.bind_host in _EVERYWHERE else settings.bind_host
    return "\n".join(
        [
            _RULE,
            f"  WARNING: the api and ws server listen on {where} (BIND_HOST={settings.bind_host})",
            "  with the development JWT_SECRET, which is public: anyone who can reach this",
            "  machine can sign in as any user. Either keep it on this machine:",
            "      BIND_HOST=127.0.0.1 tradepro up",
            "  or set a secret of your own:",
            '      JWT_SECRET="$(openssl rand -hex 32)" tradepro up',
            _RULE,
        ]
    )
