"""Initial schema: users, existing_trades, open_positions, engine_state.

Revision ID: 0001
Revises:
Create Date: 2025-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types as they were at this revision (never import models here).
UUID = sa.Uuid(as_uuid=False)
TIMESTAMP = sa.DateTime(timezone=True)
NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", UUID, nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("last_logged_in", TIMESTAMP, nullable=True),
        sa.Column("balance", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("engine_shard", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "existing_trades",
        sa.Column("id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("open_price", sa.BigInteger(), nullable=False),
        sa.Column("close_price", sa.BigInteger(), nullable=False),
        sa.Column("pnl", sa.BigInteger(), nullable=False),
        sa.Column("margin", sa.BigInteger(), nullable=False),
        sa.Column("liquidation_price", sa.BigInteger(), nullable=False),
        sa.Column("take_profit", sa.BigInteger(), nullable=True),
        sa.Column("stop_loss", sa.BigInteger(), nullable=True),
        sa.Column("slippage", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("liquidated", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_existing_trades_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_existing_trades"),
    )
    op.create_index(
        "ix_existing_trades_user_id_closed_at_id",
        "existing_trades",
        ["user_id", sa.text("closed_at DESC"), sa.text("id DESC")],
    )
    op.create_table(
        "open_positions",
        sa.Column("shard", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("open_price", sa.BigInteger(), nullable=False),
        sa.Column("margin", sa.BigInteger(), nullable=False),
        sa.Column("take_profit", sa.BigInteger(), nullable=True),
        sa.Column("stop_loss", sa.BigInteger(), nullable=True),
        sa.Column("liquidation_price", sa.BigInteger(), nullable=False),
        sa.Column("slippage_bps", sa.Integer(), nullable=True),
        sa.Column("opened_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_open_positions_user_id_users"),
        sa.PrimaryKeyConstraint("order_id", name="pk_open_positions"),
        sa.UniqueConstraint("shard", "seq", name="uq_open_positions_shard_seq"),
    )
    op.create_index("ix_open_positions_user_id", "open_positions", ["user_id"])
    op.create_table(
        "engine_state",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_entry_id", sa.Text(), nullable=False),
        sa.Column("header", sa.JSON(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("shard", name="pk_engine_state"),
    )


def downgrade() -> None:
    op.drop_table("engine_state")
    op.drop_index("ix_open_positions_user_id", table_name="open_positions")
    op.drop_table("open_positions")
    op.drop_index("ix_existing_trades_user_id_closed_at_id", table_name="existing_trades")
    op.drop_table("existing_trades")
    op.drop_table("users")
