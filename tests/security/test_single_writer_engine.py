"""Two ``tradepro engine`` processes on one embedded data folder: the second must never
apply the journal beside the first. It waits for the folder, saying whom it waits for;
it takes over (restored from the first one's final snapshot) when the first is gone, and
gives up with a distinct exit code when the first stays."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.stack import CallbackCollector, EngineProcess, eventually
from tests.support.ws import create_order, engine_answers, publish_price, register
from tradepro.bus.requests import Requester
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.runtime.folder_lock import EXIT_LOCKED

pytestmark = pytest.mark.integration


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {"TRADEPRO_DATA_DIR": str(data_dir), "REDIS_URL": "", "DATABASE_URL": "",
            "MAX_PRICE_AGE_S": "3600", "SNAPSHOT_INTERVAL_S": "3600"} | extra  # fmt: skip


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[tuple[SqliteBus, Requester]]:
    (tmp_path / "data").mkdir()
    bus = SqliteBus(tmp_path / "data" / "bus.db")
    requester = Requester(bus, timeout_s=10.0)
    await requester.start()
    yield bus, requester
    await requester.stop()
    await bus.close()


async def test_a_second_engine_waits_for_the_folder_and_takes_over_when_it_is_free(
    tmp_path: Path, journal: tuple[SqliteBus, Requester]
) -> None:
    bus, requester = journal
    data_dir = tmp_path / "data"
    first = EngineProcess(embedded_env(data_dir), tmp_path / "first.log")
    second = EngineProcess(embedded_env(data_dir), tmp_path / "second.log")
    replies = CallbackCollector(bus)
    replies.start()
    try:
        first.start()
        await engine_answers(requester, first)
        second.start()
        assert first.process is not None
        waiting = f"another engine uses it (engine (pid {first.process.pid}))"
        await eventually(lambda: waiting in second.log_tail(), 30, "the second engine to wait")

        trader = await register(requester)
        await publish_price(bus, "SOL_USDC", "180.00", "180.02")
        orders = [await create_order(requester, trader, asset="SOL_USDC", qty="1")
                  for _ in range(5)]  # fmt: skip
        ids = [order["orderId"] for order in orders]
        assert second.alive(), second.log_tail()

        assert first.terminate() == 0  # drains: its final snapshot holds the five orders
        more = await create_order(requester, trader, asset="SOL_USDC", qty="1")
        assert "engine holds the data folder" in second.log_tail()
        ids.append(more["orderId"])

        account = await requester.send_request_and_wait("get-account", {"userId": trader.user_id})
        assert sorted(order["orderId"] for order in account["orders"]) == sorted(ids)
        await eventually(lambda: replies.count >= 9, 10, "every reply collected")
        duplicates = {rid: bodies for rid, bodies in replies.bodies.items() if len(bodies) > 1}
        assert duplicates == {}, "a request answered twice: two engines applied the journal"
        assert second.alive(), second.log_tail()
    finally:
        await replies.stop()
        first.close()
        second.close()


async def test_a_second_engine_gives_up_with_a_distinct_exit_code_and_says_why(
    tmp_path: Path, journal: tuple[SqliteBus, Requester]
) -> None:
    _, requester = journal
    data_dir = tmp_path / "data"
    first = EngineProcess(embedded_env(data_dir), tmp_path / "first.log")
    second = EngineProcess(embedded_env(data_dir, ENGINE_LOCK_TIMEOUT_S="1"), tmp_path / "2.log")
    try:
        first.start()
        await engine_answers(requester, first)
        second.start()
        assert second.process is not None
        assert second.process.wait(60) == EXIT_LOCKED, second.log_tail()
        log = second.log_tail()
        assert "another engine still uses the data folder" in log, log
        assert "engine restored" not in log  # it never loaded, never applied anything
        await requester.send_request_and_wait("get-account", {"userId": str(uuid.uuid4())})
        assert first.alive()
    finally:
        first.close()
        second.close()
