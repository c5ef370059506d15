"""``tradepro poller --feed sim``: a seeded walk, marked simulated in the stream, the feed
reports and the candles, with a seeded day of backfilled candles on the first run only.

The real poller and engine run as processes on the embedded default; the engine trades
on the simulated prices like on any others, and every entry and candle says simulated.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.poller import (
    EntryCollector,
    PollerProcess,
    engine_answers,
    requester_started,
    show_logs,
)
from tests.support.stack import EngineProcess, eventually
from tradepro.bus.factory import open_bus
from tradepro.bus.requests import Requester
from tradepro.db.models import Candle as CandleRow
from tradepro.db.session import open_database
from tradepro.domain.candles import Candle
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.feeds.backfill import DAY_MINUTES, simulated_history

pytestmark = pytest.mark.integration


async def test_the_simulated_feed_is_marked_simulated_everywhere(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {
        "TRADEPRO_DATA_DIR": str(data_dir), "REDIS_URL": "", "DATABASE_URL": "",
        "ASSETS": "BTC_USDC,SOL_USDC", "LOG_LEVEL": "INFO",
    }  # fmt: skip
    engine = EngineProcess(env, tmp_path / "engine.log")
    poller = PollerProcess(
        env, tmp_path / "poller.log", ["--feed", "sim", "--rate", "20", "--seed", "3"]
    )
    data_dir.mkdir()
    bus = open_bus(None, data_dir)
    requester = Requester(bus)
    entries = EntryCollector(bus)
    try:
        engine.start()
        await eventually(lambda: requester_started(requester), 30, "the bus")
        await eventually(lambda: engine_answers(requester), 30, "the engine")
        poller.start()
        entries.start()
        await eventually(lambda: len(entries.asks("SOL_USDC")) >= 10, 30, "simulated quotes")
        assert all(entry.payload["simulated"] is True for entry in entries.prices)  # type: ignore[index]
        user = str(uuid.uuid4())
        await requester.send_request_and_wait("register-user", {"userId": user})
        order = {"userId": user, "asset": "SOL_USDC", "side": "sell", "qty": "1", "leverage": 5}
        reply = await requester.send_request_and_wait("create-order", order)
        assert reply["status"] == "created", reply
        assert poller.terminate() == 0
        await eventually(entries.caught_up, 10, "the collector to catch up")
        database = open_database(f"sqlite:///{data_dir / 'tradepro.db'}")
        try:
            async with database.connect() as connection:
                found = (await connection.execute(select(CandleRow.__table__))).all()
        finally:
            await database.dispose()
        assert {row.asset for row in found} == {"BTC_USDC", "SOL_USDC"}
        assert all(row.simulated for row in found)
        assert sum(row.quotes for row in found) == len(entries.prices) > 0
        reports = [entry.payload for entry in entries.feed_reports]
        assert reports and all(report["state"] == "simulated" for report in reports)  # type: ignore[index]

        # The first run backfilled a seeded day before its first minute, marked as such.
        by_time = sorted(found, key=lambda row: (row.start_s, row.asset))
        backfill = [Candle(*row) for row in by_time if row.backfill]
        assert len(backfill) == 2 * DAY_MINUTES
        end_s = max(candle.start_s for candle in backfill) + 60
        instruments = {name: DEFAULT_INSTRUMENTS[name] for name in ("BTC_USDC", "SOL_USDC")}
        assert backfill == simulated_history(3, instruments, end_s)
        assert all(row.start_s >= end_s for row in found if not row.backfill)

        # A restart (even with another seed) does not backfill again.
        again = PollerProcess(env, tmp_path / "poller-2.log", ["--feed", "sim", "--seed", "4"])
        try:
            again.start()
            published = len(entries.prices)
            await eventually(lambda: len(entries.prices) > published + 10, 30, "quotes again")
            assert again.terminate() == 0
        finally:
            show_logs(again)
            again.close()
        database = open_database(f"sqlite:///{data_dir / 'tradepro.db'}")
        try:
            async with database.connect() as connection:
                rows = (await connection.execute(select(CandleRow.__table__))).all()
        finally:
            await database.dispose()
        rows = sorted(rows, key=lambda row: (row.start_s, row.asset))
        assert [Candle(*row) for row in rows if row.backfill] == backfill
    finally:
        show_logs(poller, engine)
        poller.close()
        engine.close()
        await entries.stop()
        await requester.stop()
        await bus.close()
