"""The restore's position reader puts one value of its input into SQL text (a snapshot id
cannot be a bind parameter of ``SET TRANSACTION SNAPSHOT``): only the form PostgreSQL
gives such ids passes, anything else is refused before any SQL runs."""

from __future__ import annotations

import pytest

from tradepro.db import position_reader


@pytest.mark.parametrize(
    "snapshot_id", ["", "00000003-1'; DROP TABLE users; --", "x" * 10, "0000-\\'", "1 2"]
)
def test_only_a_snapshot_id_reaches_the_helpers_sql(snapshot_id: str) -> None:
    with pytest.raises(ValueError, match="not a snapshot id"):
        position_reader._quoted(snapshot_id)


def test_a_snapshot_id_as_postgresql_makes_it_passes() -> None:
    assert position_reader._quoted("00000003-0000001B-1") == "00000003-0000001B-1"
