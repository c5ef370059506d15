"""Managing open positions: trailing stops, commission and partial closes.

``open_positions`` gains each position's ``trailing_stop`` (a distance in ticks) and the
open ``commission`` not yet attributed to a closed trade (cents). ``existing_trades`` gains
``commission`` (cents the trade paid) and ``order_id``: a partial close is a row of its own
whose ``id`` is the close request's id, with the position's order id here (null on the rows
of whole closes, where ``id`` is the order id). ``pending_orders`` and ``order_history``
gain the ``trailing_stop`` a pending order gives the position it opens.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    with op.batch_alter_table("open_positions") as table:
        table.add_column(sa.Column("trailing_stop", sa.BigInteger(), nullable=True))
        table.add_column(
            sa.Column("commission", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
    with op.batch_alter_table("existing_trades") as table:
        table.add_column(
            sa.Column("commission", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
        table.add_column(sa.Column("order_id", UUID, nullable=True))
    for name in ("pending_orders", "order_history"):
        with op.batch_alter_table(name) as table:
            table.add_column(sa.Column("trailing_stop", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for name in ("order_history", "pending_orders"):
        with op.batch_alter_table(name) as table:
            table.drop_column("trailing_stop")
    with op.batch_alter_table("existing_trades") as table:
        table.drop_column("order_id")
        table.drop_column("commission")
    with op.batch_alter_table("open_positions") as table:
        table.drop_column("commission")
        table.drop_column("trailing_stop")
