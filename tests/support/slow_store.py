"""An engine state store whose first save is slow, for the worker's pacing and GC tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from tradepro.db.account_events import EventRow
from tradepro.db.bulk import Pacer
from tradepro.domain.events import ClosedTrade, EndedOrder, LedgerEntry
from tradepro.engine import Engine, EngineConfig
from tradepro.engine.changes import ChangeSet


class SlowFirstSaveStore:
    """Remembers each save's pace; the first save takes a while (the next falls due)."""

    def __init__(self) -> None:
        self.pacers: list[Pacer | None] = []

    async def restore(self, config: EngineConfig) -> tuple[Engine, str] | None:
        return None

    async def save(
        self,
        header: dict[str, Any],
        changes: Sequence[ChangeSet],
        last_entry_id: str,
        *,
        pacer: Pacer | None = None,
    ) -> None:
        self.pacers.append(pacer)
        if len(self.pacers) == 1:
            await asyncio.sleep(0.3)

    async def record_trades(self, trades: Sequence[ClosedTrade]) -> None:
        return None

    async def record_history(self, ended: Sequence[EndedOrder]) -> None:
        return None

    async def record_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        return None

    async def record_events(self, rows: Sequence[EventRow]) -> None:
        return None

    async def prune_events(self, before_us: int) -> int:
        return 0
