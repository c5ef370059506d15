"""URLs as they may be shown to a person: a password in ``DATABASE_URL``, ``REDIS_URL`` or
``BACKPACK_WS_URL`` never reaches a terminal or a log."""

from __future__ import annotations

from urllib.parse import urlsplit


def without_credentials(url: str) -> str:
    """``url`` with no user name, password or query: ``scheme://host:port/path``."""
    parts = urlsplit(url)
    if not parts.hostname:
        return f"{parts.scheme}://{parts.path}" if parts.scheme else url
    netloc = bracketed(parts.hostname)
    if parts.port is not None:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def bracketed(hostname: str) -> str:
    """An IPv6 literal in brackets, as it is written in a URL; any other name as it is."""
    return f"[{hostname}]" if ":" in hostname else hostname


__all__ = ["bracketed", "without_credentials"]
