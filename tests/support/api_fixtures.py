"""Fixtures of the API tests (a local SMTP server and a running stack on both stacks), a
pytest plugin registered in ``tests/conftest.py``: the API and security suites use them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from redis.asyncio import Redis

from tests.support.api import Mailbox, Stack, stack_settings
from tests.support.servers import free_port

STACKS = ["redis-postgres", "embedded"]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on a free local port; every accepted message is kept."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


async def open_stack(
    request: pytest.FixtureRequest, kind: str, folder: Path, smtp: tuple[Mailbox, int]
) -> Stack:
    mailbox, port = smtp
    overrides = request.node.get_closest_marker("stack_settings")
    extra = dict(overrides.kwargs) if overrides is not None else {}
    if kind in ("redis-postgres", "cluster-postgres"):
        on_cluster = kind == "cluster-postgres"  # a Redis Cluster of three masters
        url = request.getfixturevalue("redis_cluster_url" if on_cluster else "redis_url")
        settings = stack_settings(
            folder,
            port,
            redis_url=url,
            namespace=request.getfixturevalue("bus_namespace"),
            database_url=request.getfixturevalue("postgres_url"),
            **({"redis_cluster": True} if on_cluster else {}) | extra,
        )
    else:
        settings = stack_settings(folder, port, **extra)
    marker = request.node.get_closest_marker("engine_running")
    running = marker.args[0] if marker is not None else True
    stack = Stack(kind, settings, mailbox)
    await stack.start(engine=running)
    return stack


async def forget_namespace(stack: Stack) -> None:
    """Delete this test's Redis keys (streams and rate-limit counters)."""
    settings = stack.settings
    if not settings.redis_url or settings.redis_cluster:  # the cluster ends with the run
        return
    client = Redis.from_url(settings.redis_url)
    try:
        keys = [key async for key in client.scan_iter(f"{settings.tradepro_bus_namespace}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def running_stack(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path, smtp: tuple[Mailbox, int]
) -> AsyncIterator[Stack]:
    """A stack of ``kind`` (``STACKS``, or ``cluster-postgres``), closed and its Redis keys
    deleted afterwards."""
    running = await open_stack(request, kind, tmp_path, smtp)
    try:
        yield running
    finally:
        try:
            await running.close()
        finally:
            await forget_namespace(running)


@pytest.fixture(params=STACKS)
async def stack(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: tuple[Mailbox, int]
) -> AsyncIterator[Stack]:
    """Engine + API on Redis + PostgreSQL, or on the embedded default."""
    async with running_stack(request, request.param, tmp_path, smtp) as running:
        yield running


@pytest.fixture(params=["redis-postgres", "cluster-postgres"], ids=["redis", "cluster"])
async def redis_or_cluster(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: tuple[Mailbox, int]
) -> AsyncIterator[Stack]:
    """Engine + API on one Redis server, or on a Redis Cluster of three masters."""
    async with running_stack(request, request.param, tmp_path, smtp) as running:
        yield running


@pytest.fixture
async def embedded(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: tuple[Mailbox, int]
) -> AsyncIterator[Stack]:
    """Engine + API on the embedded default only (for checks that do not depend on it)."""
    running = await open_stack(request, "embedded", tmp_path, smtp)
    try:
        yield running
    finally:
        await running.close()
