"""Fixtures of the WebSocket tests: the real ``tradepro ws`` and ``tradepro engine``
processes on Redis (each test in its own namespace), and a bus and requester in the test.
A pytest plugin registered in ``tests/conftest.py``: the ws and security suites use them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.servers import free_port
from tests.support.stack import EngineProcess
from tests.support.ws import JWT_SECRET, WsProcess
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester
from tradepro.db.migrate import upgrade


@pytest.fixture
def redis_env(redis_url: str, bus_namespace: str) -> dict[str, str]:
    return {"REDIS_URL": redis_url, "TRADEPRO_BUS_NAMESPACE": bus_namespace}


@pytest.fixture
async def bus(redis_url: str, bus_namespace: str) -> AsyncIterator[RedisBus]:
    bus = RedisBus(redis_url, namespace=bus_namespace)
    yield bus
    await bus.close()


@pytest.fixture
async def requester(bus: RedisBus) -> AsyncIterator[Requester]:
    requester = Requester(bus, timeout_s=10.0)
    await requester.start()
    yield requester
    await requester.stop()


@pytest.fixture
async def database_url(postgres_url: str) -> str:
    """The test's fresh PostgreSQL database, migrated (the ws server reads the signed-out
    sessions there; migrated once, before the engine and the ws server start)."""
    await upgrade(postgres_url)
    return postgres_url


@pytest.fixture
def engine(redis_env: dict[str, str], database_url: str, tmp_path: Path) -> Iterator[EngineProcess]:
    """``tradepro engine`` on the test's Redis namespace and a fresh PostgreSQL database,
    started (not yet necessarily answering: see ``tests.support.ws.engine_answers``)."""
    env = redis_env | {
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "MAX_PRICE_AGE_S": "3600",
        "SNAPSHOT_INTERVAL_S": "3600",
        "TRADEPRO_DATA_DIR": str(tmp_path / "engine"),
    }
    process = EngineProcess(env, tmp_path / "engine.log")
    process.start()
    try:
        yield process
    finally:
        process.close()


@pytest.fixture
async def ws_server(
    request: pytest.FixtureRequest, redis_env: dict[str, str], database_url: str, tmp_path: Path
) -> AsyncIterator[WsProcess]:
    """``tradepro ws`` on the test's Redis namespace, answering ``/health`` (its feeds are
    reading). ``@pytest.mark.ws_args("--send-queue", "8")`` passes options."""
    marker = request.node.get_closest_marker("ws_args")
    args = tuple(marker.args) if marker is not None else ()
    env = redis_env | {"DATABASE_URL": database_url}
    async with WsProcess(env, free_port(), tmp_path / "ws.log", *args).running() as server:
        yield server
