"""engine_order_ids holds the ids of closed positions only: an open position's id is in
open_positions already.

Recovery builds the engine's order id window from both tables, so each open position's id
is read once and shares one string with its position (at three million open positions the
duplicate rows were three million more to read and keep). The upgrade deletes the rows of
ids whose position is still open; the downgrade writes them back, with the time each id
carries, as the older engines expect.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the tables as they are at this revision (never import models here).
UUID = sa.Uuid(as_uuid=False)
ORDER_IDS = sa.table(
    "engine_order_ids",
    sa.column("order_id", UUID),
    sa.column("shard", sa.Integer()),
    sa.column("made_ms", sa.BigInteger()),
)
POSITIONS = sa.table(
    "open_positions", sa.column("order_id", UUID), sa.column("shard", sa.Integer())
)
DOWNGRADE_CHUNK_ROWS = 10_000


def upgrade() -> None:
    op.execute(ORDER_IDS.delete().where(ORDER_IDS.c.order_id.in_(sa.select(POSITIONS.c.order_id))))


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(POSITIONS.c.order_id, POSITIONS.c.shard).where(
            ~sa.exists().where(ORDER_IDS.c.order_id == POSITIONS.c.order_id)
        )
    ).all()
    for start in range(0, len(rows), DOWNGRADE_CHUNK_ROWS):
        chunk = rows[start : start + DOWNGRADE_CHUNK_ROWS]
        connection.execute(
            ORDER_IDS.insert(),
            [
                {"order_id": order_id, "shard": shard, "made_ms": _made_ms(order_id)}
                for order_id, shard in chunk
            ],
        )


def _made_ms(order_id: str) -> int:
    """The time a version 7 UUID carries (its first 48 bits), -1 for any other id: what
    the engines before this revision wrote."""
    if len(order_id) != 36 or order_id[14] != "7" or order_id[19] not in "89ab":
        return -1
    return int(order_id[:8] + order_id[9:13], 16)
