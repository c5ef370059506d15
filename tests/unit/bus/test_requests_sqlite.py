"""``Requester`` over the embedded SQLite bus (the same behaviours as on Redis)."""

from __future__ import annotations

from requester_contract import RequesterContract


class TestRequesterOnSqlite(RequesterContract):
    pass
