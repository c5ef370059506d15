"""Redis restarts and PostgreSQL goes away while the engine works: nothing lost or doubled.

Both servers here are the test's own (own ports and data folders; Redis with
``appendonly yes``), so the shared services stay up. The engine runs as a real process;
the driver publishes a seeded workload in phases around the outages and, at the end, the
engine's replies, saved state and trades must equal the uninterrupted reference run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import OwnedPostgres, OwnedRedis
from tests.support.stack import (
    CallbackCollector,
    EngineProcess,
    eventually,
    publish_retrying,
    verify_against_reference,
)
from tests.support.workload import Workload
from tradepro.bus.base import START_ID, Entry
from tradepro.bus.redis_bus import RedisBus
from tradepro.config import Settings

pytestmark = pytest.mark.integration

PHASE = 600


@pytest.fixture
def servers() -> Iterator[tuple[OwnedRedis, OwnedPostgres]]:
    redis, postgres = OwnedRedis(), OwnedPostgres()
    try:
        redis.start()
        postgres.start()
        yield redis, postgres
    finally:
        redis.close()
        postgres.close()


async def test_redis_restart_and_postgres_outage(
    servers: tuple[OwnedRedis, OwnedPostgres], tmp_path: Path
) -> None:
    redis, postgres = servers
    env = {
        "REDIS_URL": redis.url,
        "DATABASE_URL": postgres.url,
        "TRADEPRO_DATA_DIR": str(tmp_path / "data"),
        "SNAPSHOT_INTERVAL_S": "0.2",
    }
    engine = EngineProcess(env, tmp_path / "engine.log")
    bus = RedisBus(redis.url, socket_timeout_s=2.0)
    collector = CallbackCollector(bus)
    workload = Workload(seed=5)
    published: list[Entry] = []

    async def phase(entries: list[tuple[str, str, dict[str, object]]]) -> None:
        marker = ("register-user", workload.new_id(), {"userId": workload.new_id()})
        for index, (kind, request_id, payload) in enumerate([*entries, marker]):
            if index % 20 == 0:
                await asyncio.sleep(0.01)
            published.append(await publish_retrying(bus, kind, payload, request_id))
        await eventually(lambda: marker[1] in collector.bodies, 60, "the phase's last reply")

    engine.start()
    collector.start()
    try:
        await phase(workload.opening() + [workload.step() for _ in range(PHASE)])

        redis.stop()  # the engine's reads and the driver's publishes now fail
        await asyncio.sleep(1.0)
        redis.start()
        await phase([workload.step() for _ in range(PHASE)])

        postgres.stop()  # snapshots now fail; the engine keeps trading from memory
        await phase([workload.step() for _ in range(PHASE)])
        await asyncio.sleep(1.0)  # several snapshot attempts fail meanwhile
        # Nothing could be saved, so nothing was trimmed: the whole phase is still there.
        assert len(await bus.read_entries(START_ID, 10 * PHASE, 0)) > PHASE
        postgres.start()
        await phase([workload.step() for _ in range(PHASE)])
        # Saving works again, and then the stream is trimmed below the snapshot.
        await eventually(
            lambda: stream_shorter_than(bus, below=PHASE // 2), 30, "a snapshot and a trim"
        )
        assert engine.terminate() == 0, engine.log_tail()
    finally:
        await collector.stop()
        await bus.close()
        engine.close()

    config = Settings(_env_file=None).engine_config()  # type: ignore[call-arg]
    await verify_against_reference(published, collector.bodies, postgres.url, config)


async def stream_shorter_than(bus: RedisBus, below: int) -> bool:
    return len(await bus.read_entries(START_ID, below, 0)) < below
