"""A Redis bus per test in its own key namespace (deleted afterwards); the shared bus
contracts are in ``tests.support.contracts``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tradepro.bus.names import CALLBACK_BYTES_SUFFIX, CALLBACK_QUEUE, ENGINE_STREAM
from tradepro.bus.redis_bus import RedisBus


@pytest.fixture
async def raw_redis(redis_url: str, bus_namespace: str) -> AsyncIterator[Redis]:
    """A plain client; deletes this test's streams at the end."""
    client = Redis.from_url(redis_url)
    yield client
    queue = bus_namespace + CALLBACK_QUEUE
    await client.delete(bus_namespace + ENGINE_STREAM, queue, queue + CALLBACK_BYTES_SUFFIX)
    await client.aclose()


@pytest.fixture
async def bus(redis_url: str, bus_namespace: str, raw_redis: Redis) -> AsyncIterator[RedisBus]:
    bus = RedisBus(redis_url, namespace=bus_namespace)
    yield bus
    await bus.close()
