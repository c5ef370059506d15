"""Deposits and resets as the engine service recorded them (``ledger_entries``)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.models import LedgerEntryRow

_LEDGER = LedgerEntryRow.__table__


class LedgerRow(NamedTuple):
    id: str
    user_id: str
    kind: str
    amount: int
    balance_after: int
    created_at: datetime


_COLUMNS = [_LEDGER.c[name] for name in LedgerRow._fields]


async def ledger_entry(database: AsyncEngine, user_id: str, entry_id: str) -> LedgerRow | None:
    """The user's deposit or reset ``entry_id``, if it is recorded."""
    query = select(*_COLUMNS).where(_LEDGER.c.id == entry_id, _LEDGER.c.user_id == user_id)
    async with database.connect() as connection:
        row = (await connection.execute(query)).one_or_none()
    return None if row is None else LedgerRow(*row)


async def ledger_entries(database: AsyncEngine, user_id: str) -> list[LedgerRow]:
    """Every deposit and reset of the user, oldest first."""
    query = (
        select(*_COLUMNS)
        .where(_LEDGER.c.user_id == user_id)
        .order_by(_LEDGER.c.created_at, _LEDGER.c.id)
    )
    async with database.connect() as connection:
        return [LedgerRow(*row) for row in (await connection.execute(query)).all()]
