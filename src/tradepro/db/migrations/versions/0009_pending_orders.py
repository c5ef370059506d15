"""Pending orders: the engine's resting limit and stop orders, and the history of ended ones.

``pending_orders`` holds every ``PendingOrder`` field of the orders resting at the last
snapshot (recovery rebuilds the books and reservations from it); ``order_history`` holds
each order that ended (filled, cancelled, expired, refused at its fill), keyset-paginated
newest first by ``(ended_at, id)`` per user, like ``existing_trades``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types as they are at this revision (never import models here).
UUID = sa.Uuid(as_uuid=False)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pending_orders",
        sa.Column("shard", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("order_type", sa.String(8), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("take_profit", sa.BigInteger(), nullable=True),
        sa.Column("stop_loss", sa.BigInteger(), nullable=True),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_pending_orders"),
    )
    op.create_table(
        "order_history",
        sa.Column("id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("order_type", sa.String(8), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("take_profit", sa.BigInteger(), nullable=True),
        sa.Column("stop_loss", sa.BigInteger(), nullable=True),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("fill_price", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_history"),
    )
    op.create_index(
        "ix_order_history_user_id_ended_at_id",
        "order_history",
        ["user_id", sa.text("ended_at DESC"), sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_order_history_user_id_ended_at_id", table_name="order_history")
    op.drop_table("order_history")
    op.drop_table("pending_orders")
