"""``Requester`` over the embedded SQLite bus (the same behaviours as on Redis)."""

from __future__ import annotations

from tests.support.contracts.requester import RequesterContract


class TestRequesterOnSqlite(RequesterContract):
    pass
