"""The embedded default: the API writes to the SQLite file the engine writes to as well.

SQLite in WAL mode refuses, at once and without waiting for ``busy_timeout``, to turn a
read transaction into a write one when another connection committed in between
(``SQLITE_BUSY_SNAPSHOT``, "database is locked"). The test commits a write from another
connection, as the engine does when it records trades or saves a snapshot, exactly between
the sign-up's look-up of the e-mail and its insert of the new user.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import pytest
from sqlalchemy import event

from tests.support.api import API, Stack, new_email

pytestmark = pytest.mark.integration


async def test_sign_up_survives_an_engine_write_between_its_statements(embedded: Stack) -> None:
    stack = embedded
    path = stack.settings.sqlite_path
    database = stack.context.database.sync_engine
    meddled: list[str] = []

    def engine_commits(
        connection: Any, cursor: Any, statement: str, *args: Any, **kwargs: Any
    ) -> None:
        if not statement.startswith("INSERT INTO users") or meddled:
            return
        # This hook runs on the event loop, where the in-process engine may be in the middle
        # of a transaction of its own: waiting for its lock here would stall the very loop
        # that must commit it. So the other write gives up at once when the file is busy,
        # and the test signs up again until one sign-up had the write slipped in.
        try:
            with sqlite3.connect(path, timeout=0.05) as other:  # an engine-only account
                other.execute(
                    "INSERT INTO users (id, balance) VALUES (?, 500000)", (uuid.uuid4().hex,)
                )
        except sqlite3.OperationalError:
            return
        meddled.append(statement)

    event.listen(database, "before_cursor_execute", engine_commits)
    try:
        for _ in range(50):
            response = await stack.client.post(f"{API}/auth/signup", json={"email": new_email()})
            if meddled:
                break
            assert response.status_code == 200, response.text
    finally:
        event.remove(database, "before_cursor_execute", engine_commits)
    assert meddled, "no sign-up had another connection's write slipped in"
    assert response.status_code == 200, response.text
