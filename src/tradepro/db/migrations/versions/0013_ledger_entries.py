"""ledger_entries: paper money put in or taken out of an account outside trading.

One row per deposit or reset, written by the engine service (its id is the command's
request id, so writing it twice changes nothing). ``amount`` is what was added to the
free balance (signed cents: a reset to less than the account held is negative) and
``balance_after`` the free balance right after; ``created_at`` is the engine's clock.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = sa.Uuid(as_uuid=False)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
    )
    op.create_index(
        "ix_ledger_entries_user_id_created_at_id",
        "ledger_entries",
        ["user_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_user_id_created_at_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
