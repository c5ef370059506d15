"""Shared fixtures: real Redis and PostgreSQL, each test in its own namespace/database.

Integration tests need the servers named by ``TRADEPRO_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``) and ``TRADEPRO_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``, used to create throwaway databases).
Without them the tests skip, unless ``TRADEPRO_REQUIRE_SERVICES=1`` (as in CI), which
turns a missing server into a failure: integration tests can never silently skip there.

The helpers of every suite live in the package ``tests.support`` (the repository root is on
``sys.path`` through ``pythonpath`` in pyproject.toml); the fixtures that several folders
share are its plugins, registered here once.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis
from hypothesis import settings

from tests.support.frozen_clock import FrozenClock, freeze_limiters
from tests.support.servers import services_required

pytest_plugins = [
    "tests.support.api_fixtures",
    "tests.support.ws_fixtures",
    "tests.support.redis_cluster",
]

settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci")

REDIS_URL = os.environ.get("TRADEPRO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "TRADEPRO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def require_server(name: str, url: str, default_port: int) -> None:
    """Skip (or, when services are required, fail) if the server does not answer."""
    if _reachable(url, default_port):
        return
    message = f"{name} is not reachable at {url}"
    if services_required():
        pytest.fail(f"{message} and TRADEPRO_REQUIRE_SERVICES=1: start it (see README)")
    pytest.skip(f"{message}; set TRADEPRO_REQUIRE_SERVICES=1 to make this a failure")


@pytest.fixture
def redis_url() -> str:
    require_server("Redis", REDIS_URL, 6379)
    return REDIS_URL


@pytest.fixture
def bus_namespace() -> Iterator[str]:
    """A key prefix of its own, so tests never see each other's streams; its keys are
    deleted afterwards (when Redis is reachable)."""
    namespace = f"test-{uuid.uuid4().hex[:12]}:"
    yield namespace
    if _reachable(REDIS_URL, 6379):
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(f"{namespace}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A freshly created, empty PostgreSQL database, dropped afterwards."""
    require_server("PostgreSQL", POSTGRES_URL, 5432)
    name = f"tradepro_test_{uuid.uuid4().hex[:12]}"
    _run_admin(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    finally:
        _run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_admin(statement: str) -> None:
    """Run one statement on its own thread's loop: callers may be inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin(statement)).result()


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/tradepro.db"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """The rate limiters' clock, frozen (tests/support/frozen_clock.py)."""
    return freeze_limiters(monkeypatch)
