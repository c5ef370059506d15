"""Kill -9 the engine again and again while it works: nothing acknowledged is lost.

A driver publishes a busy seeded workload while the real ``tradepro engine`` process
consumes it; at random moments (each after the engine has answered something since its
last start) the engine is SIGKILLed and started again. At the end, the state it saved
equals that of the pure engine run straight through the same entries, every ``created``
order exists, and each request got exactly the reply the reference gives (no duplicates).
The workload deposits and resets accounts too (some requests replayed), so the ledger
rows and the closes a reset makes must also come out exactly once.
Runs on Redis + PostgreSQL and on the embedded default (SQLite journal + SQLite).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import (
    CallbackCollector,
    EngineProcess,
    eventually,
    publish_retrying,
    verify_against_reference,
)
from tests.support.workload import Workload
from tradepro.bus.base import Bus, Entry
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.config import Settings

pytestmark = pytest.mark.integration

STEPS = 3000
MAX_STEPS = 4 * STEPS
KILLS = 6
PACE_BATCH = 10
PACE_PAUSE_S = 0.04  # about 250 entries a second: the run spans several restarts


@dataclass
class Stack:
    bus: Bus
    database_url: str
    env: dict[str, str]


@pytest.fixture(params=["redis-postgres", "embedded"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    env = {
        "TRADEPRO_DATA_DIR": str(tmp_path / "data"),
        "SNAPSHOT_INTERVAL_S": "0.2",
        "REDIS_URL": "",
        "DATABASE_URL": "",
        "LOG_LEVEL": "INFO",
    }
    bus: Bus
    if request.param == "redis-postgres":
        redis_url: str = request.getfixturevalue("redis_url")
        namespace: str = request.getfixturevalue("bus_namespace")
        database_url: str = request.getfixturevalue("postgres_url")
        env |= {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "TRADEPRO_BUS_NAMESPACE": namespace,
        }
        bus = RedisBus(redis_url, namespace=namespace)
    else:
        (tmp_path / "data").mkdir()
        bus = SqliteBus(tmp_path / "data" / "bus.db")
        database_url = f"sqlite:///{tmp_path / 'data' / 'tradepro.db'}"
    yield Stack(bus, database_url, {k: v for k, v in env.items() if v})
    await bus.close()


@dataclass
class Run:
    published: list[Entry]
    replies: dict[str, list[dict[str, Any]]]
    kills: int


async def drive(stack: Stack, engine: EngineProcess, seed: int) -> Run:
    """Publish the workload at a steady pace while another task kills the engine."""
    workload = Workload(seed, pending=True, manage=True, accounts=True)
    marker = ("register-user", workload.new_id(), {"userId": workload.new_id()})

    def plan() -> Iterator[tuple[str, str, dict[str, Any]]]:
        """The opening, ``STEPS`` steps, more while the kills have not all happened (on a
        loaded machine each restart takes longer), then the marker."""
        yield from workload.opening()
        steps = 0
        while steps < STEPS or (kills < KILLS and steps < MAX_STEPS):
            yield workload.step()
            steps += 1
        yield marker

    rng = random.Random(seed)
    collector = CallbackCollector(stack.bus)
    collector.start()
    published: list[Entry] = []
    kills = 0

    async def killer() -> None:
        nonlocal kills
        while kills < KILLS:
            answered_at_start = collector.count
            await eventually(
                lambda start=answered_at_start: collector.count > start, 60, "engine replies"
            )
            await asyncio.sleep(rng.uniform(0.05, 0.5))  # somewhere inside its work
            engine.kill()
            kills += 1
            engine.start()

    engine.start()
    killing = asyncio.create_task(killer())
    try:
        for index, (kind, request_id, payload) in enumerate(plan()):
            if index % PACE_BATCH == 0:
                await asyncio.sleep(PACE_PAUSE_S)  # traffic arrives over time, not at once
            published.append(await publish_retrying(stack.bus, kind, payload, request_id))
        await killing
        await eventually(lambda: marker[1] in collector.bodies, 120, "the marker's reply")
    finally:
        killing.cancel()
        await collector.stop()
    return Run(published, collector.bodies, kills)


async def test_sigkill_loses_nothing(stack: Stack, tmp_path: Path) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = EngineProcess(stack.env, tmp_path / "engine.log")
    try:
        run = await drive(stack, engine, seed=20261121)
        assert engine.terminate() == 0, engine.log_tail()
    finally:
        engine.close()
    assert run.kills >= 5, f"only {run.kills} kills happened"
    assert engine.starts == run.kills + 1
    await verify_against_reference(
        run.published, run.replies, stack.database_url, settings.engine_config()
    )
    # The kills fell among deposits and account resets too (each closing positions).
    bodies = [body for bodies in run.replies.values() for body in bodies]
    statuses = Counter(body["status"] for body in bodies)
    assert statuses["reset"] >= 5 and statuses["deposit"] >= 5, statuses
    assert statuses["duplicate_request"] > 0  # replayed deposits and resets among them
    assert any(body["status"] == "reset" and body["closedOrders"] for body in bodies)
