"""The restore puts one value of its own into SQL text (a snapshot id cannot be a bind
parameter of ``SET TRANSACTION SNAPSHOT``): only the form PostgreSQL gives such ids
passes, anything else is refused before any SQL runs."""

from __future__ import annotations

import pytest

from tradepro.db.packed_positions import snapshot_id_literal


@pytest.mark.parametrize(
    "snapshot_id", ["", "00000003-1'; DROP TABLE users; --", "x" * 10, "0000-\\'", "1 2"]
)
def test_only_a_snapshot_id_reaches_the_sql(snapshot_id: str) -> None:
    with pytest.raises(ValueError, match="not a snapshot id"):
        snapshot_id_literal(snapshot_id)


def test_a_snapshot_id_as_postgresql_makes_it_passes() -> None:
    assert snapshot_id_literal("00000003-0000001B-1") == "'00000003-0000001B-1'"
