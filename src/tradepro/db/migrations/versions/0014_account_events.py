"""Account events: a per-user sequence number on every account event, kept durably.

``users`` gains ``event_seq``, the engine's counter of the account's events as of its last
snapshot. ``account_events`` holds each event (user, seq, kind, engine time, the JSON the
ws ``orders`` channel sent), written by the engine service after each batch; a reconnecting
client or ``GET /account/events`` reads what it missed from it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = sa.Uuid(as_uuid=False)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A plain ALTER on both databases: a batch copy of ``users`` on SQLite would trip the
    # foreign keys that point at it.
    op.add_column(
        "users",
        sa.Column("event_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.create_table(
        "account_events",
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "seq", name="pk_account_events"),
    )
    op.create_index("ix_account_events_at", "account_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_account_events_at", table_name="account_events")
    op.drop_table("account_events")
    op.drop_column("users", "event_seq")
