"""open_positions: no user index and no foreign key (only the engine reads and writes it).

Every snapshot save inserts its new positions in bulk; on PostgreSQL each row paid a
lookup of its owner for the foreign key and one more index entry, which nothing reads
(the engine loads the table by shard and sequence, and deletes by order id). The engine
writes the owner's users row in the same transaction, before the positions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_open_positions_user_id", table_name="open_positions")
    with op.batch_alter_table("open_positions") as batch:
        batch.drop_constraint("fk_open_positions_user_id_users", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("open_positions") as batch:
        batch.create_foreign_key("fk_open_positions_user_id_users", "users", ["user_id"], ["id"])
    op.create_index("ix_open_positions_user_id", "open_positions", ["user_id"])
