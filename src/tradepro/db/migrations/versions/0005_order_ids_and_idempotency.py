"""Order ids never reused: the engine's window of opened ids, and durable idempotency keys.

``engine_order_ids`` holds the ids the engine opened within its order id window (saved with
each snapshot, older ones deleted), so recovery rebuilds the window. ``idempotency_keys``
holds each create-order ``Idempotency-Key`` with the order id chosen for it and its first
answer, shared by every API process and kept for the retention (24 h by default).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types as they are at this revision (never import models here).
UUID = sa.Uuid(as_uuid=False)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "engine_order_ids",
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("made_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_engine_order_ids"),
    )
    op.create_index("ix_engine_order_ids_shard_made_ms", "engine_order_ids", ["shard", "made_ms"])
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_engine_order_ids_shard_made_ms", table_name="engine_order_ids")
    op.drop_table("engine_order_ids")
