"""When the engine is silent or the bus is down: 504 / 503 with ``{error, message}``, no hang.

A silent engine: the worker is stopped and the requester's timeout cut to a quarter second
after startup. A bus outage: Redis is the test's own server (``OwnedRedis``), stopped and
started again; the shared Redis stays up.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.integration.api.test_api_ops import HEALTHY, NO_ENGINE
from tests.support.api import API, Mailbox, Stack, assert_error, new_email, stack_settings
from tests.support.servers import OwnedRedis, free_port
from tests.support.stack import eventually
from tradepro.api.app import create_app
from tradepro.bus.base import BusFullError, BusUnavailableError

pytestmark = pytest.mark.integration

HANG_GUARD_S = 30  # a request that never answers fails the test instead of hanging it
ORDER = {"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10}


async def test_a_silent_engine_is_a_504_and_health_degrades(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    assert (await stack.client.get("/health")).json() == HEALTHY
    await stack.stop_engine()
    stack.context.requester.timeout_s = 0.25
    client = stack.client
    async with asyncio.timeout(HANG_GUARD_S):
        created = await stack.create_order(session)
        body = assert_error(created, 504, "timeout")
        assert "Idempotency-Key" in body["message"] and "unknown" in body["message"]
        assert_error(await stack.close_order(session, str(uuid.uuid4())), 504, "timeout")
        assert_error(await client.get(f"{API}/balance/me", headers=session.auth), 504, "timeout")
        opened = await client.get(f"{API}/trade/get-open-orders", headers=session.auth)
        assert_error(opened, 504, "timeout")
        signup = await client.post(f"{API}/auth/signup", json={"email": new_email()})
        assert_error(signup, 504, "timeout")
        health = await client.get("/health")
    assert health.status_code == 503
    assert health.json() == NO_ENGINE
    # History is read from the database: still there without the engine.
    assert (await stack.closed_orders(session))["orders"] == []

    # The outcome was unknown, not failed: the engine executes the order when it is back.
    await stack.start_engine()
    stack.context.requester.timeout_s = 5.0

    async def executed() -> bool:
        return len(await stack.open_orders(session)) == 1

    await eventually(executed, 15, "the timed-out order, executed late")
    assert (await stack.client.get("/health")).status_code == 200


async def test_a_retry_after_a_timeout_with_the_same_key_opens_nothing_new(
    embedded: Stack,
) -> None:
    stack = embedded
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    await stack.stop_engine()
    stack.context.requester.timeout_s = 0.25
    key = {"Idempotency-Key": str(uuid.uuid4())}
    url = f"{API}/trade/create-order"
    timed_out = await stack.client.post(url, json=ORDER, headers=session.auth | key)
    assert_error(timed_out, 504, "timeout")
    await stack.start_engine()
    stack.context.requester.timeout_s = 5.0

    async def executed() -> bool:
        return len(await stack.open_orders(session)) == 1

    await eventually(executed, 15, "the timed-out order, executed late")
    [late] = await stack.open_orders(session)
    retried = await stack.client.post(url, json=ORDER, headers=session.auth | key)
    assert [o["orderId"] for o in await stack.open_orders(session)] == [late["orderId"]]
    assert retried.status_code in (200, 409), retried.text
    if retried.status_code == 200:
        assert retried.json()["orderId"] == late["orderId"]


@pytest.fixture
def owned_redis() -> Iterator[OwnedRedis]:
    redis = OwnedRedis()
    try:
        redis.start()
        yield redis
    finally:
        redis.close()


@pytest.fixture
async def redis_outage_stack(
    owned_redis: OwnedRedis, postgres_url: str, tmp_path: Path, smtp: tuple[Mailbox, int]
) -> AsyncIterator[Stack]:
    mailbox, port = smtp
    settings = stack_settings(
        tmp_path, port, redis_url=owned_redis.url, namespace="", database_url=postgres_url
    )
    running = Stack("owned-redis-postgres", settings, mailbox)
    await running.start()
    try:
        yield running
    finally:
        if owned_redis.process is None:
            owned_redis.start()  # let the engine and the API stop cleanly
        await running.close()


async def test_a_bus_outage_is_a_503_and_the_api_recovers(
    redis_outage_stack: Stack, owned_redis: OwnedRedis
) -> None:
    stack = redis_outage_stack
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    created = await stack.create_order(session)
    assert created.status_code == 200, created.text
    order_id = created.json()["orderId"]

    owned_redis.stop()
    client = stack.client
    async with asyncio.timeout(HANG_GUARD_S):
        assert_error(await stack.close_order(session, order_id), 503, "unavailable")
        assert_error(
            await client.get(f"{API}/balance/me", headers=session.auth), 503, "unavailable"
        )
        opened = await client.get(f"{API}/trade/get-open-orders", headers=session.auth)
        assert_error(opened, 503, "unavailable")
        health = await client.get("/health")
    assert health.status_code == 503
    assert health.json() == {
        "status": "degraded",
        "engine": False,
        "shards": [{"shard": 0, "engine": "bus unreachable"}],
        "message": "the message bus (Redis) cannot be reached: no engine can be asked",
    }

    owned_redis.start()

    async def healthy() -> bool:
        return (await stack.client.get("/health")).status_code == 200

    await eventually(healthy, 20, "health after Redis is back")
    closed = await stack.close_order(session, order_id)
    assert closed.status_code == 200, closed.text
    assert [t["orderId"] for t in (await stack.closed_orders(session))["orders"]] == [order_id]


async def test_limited_routes_are_a_503_too_while_the_bus_is_down(
    redis_outage_stack: Stack, owned_redis: OwnedRedis
) -> None:
    stack = redis_outage_stack
    session = await stack.sign_in()
    owned_redis.stop()
    async with asyncio.timeout(HANG_GUARD_S):
        signup = await stack.client.post(f"{API}/auth/signup", json={"email": new_email()})
        created = await stack.create_order(session)
        # The history comes from the database, which is up: only the read limit, counted
        # in Redis, cannot say yes. It refuses (never lets every read through).
        history = await stack.client.get(f"{API}/trade/get-close-orders", headers=session.auth)
    assert_error(signup, 503, "unavailable")
    assert_error(created, 503, "unavailable")
    assert_error(history, 503, "unavailable")


async def test_a_bus_down_at_startup_fails_fast_or_answers_503(tmp_path: Path) -> None:
    closed_port = free_port()  # nothing listens there
    settings = stack_settings(tmp_path, free_port(), redis_url=f"redis://127.0.0.1:{closed_port}/0")
    app = create_app(settings)
    async with asyncio.timeout(HANG_GUARD_S):
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    health = await client.get("/health")
                    signup = await client.post(f"{API}/auth/signup", json={"email": new_email()})
        except BusUnavailableError:
            return  # refusing to start, with the bus's own error, is fine: no hang, no 200
    assert health.status_code == 503
    assert_error(signup, 503, "unavailable")


async def test_a_mail_server_down_is_a_503(embedded: Stack) -> None:
    embedded.context.mailer.smtp_url = f"smtp://127.0.0.1:{free_port()}"
    async with asyncio.timeout(HANG_GUARD_S):
        signup = await embedded.client.post(f"{API}/auth/signup", json={"email": new_email()})
    assert signup.status_code == 503, signup.text
    assert signup.json()["error"] != "internal_error"


async def test_a_full_redis_is_a_clear_503_and_nothing_crashes(
    redis_outage_stack: Stack, owned_redis: OwnedRedis
) -> None:
    """Redis at ``maxmemory`` with ``noeviction`` refuses every write (``OOM``): the API
    says so in words (503), the engine keeps running, and both carry on once it has room."""
    stack = redis_outage_stack
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    assert (await stack.create_order(session)).status_code == 200
    raw = Redis.from_url(owned_redis.url)
    try:
        assert (await raw.config_get("maxmemory-policy"))["maxmemory-policy"] == "noeviction"
        await raw.config_set("maxmemory", "1")  # below what it holds: every write refused
        async with asyncio.timeout(HANG_GUARD_S):
            refused = assert_error(await stack.create_order(session), 503, "unavailable")
            assert "out of memory" in refused["message"]
            with pytest.raises(BusFullError, match="maxmemory"):
                await stack.context.bus.publish("price-update", {}, str(uuid.uuid4()))
            # The engine's own write: an outage to it (it keeps its state, backs off, retries).
            with pytest.raises(BusFullError, match="out of memory"):
                await stack.context.bus.publish_callbacks_and_read([b"{}"], "0", 1)
        await raw.config_set("maxmemory", "0")
    finally:
        await raw.aclose()
    created = await stack.create_order(session)
    assert created.status_code == 200, created.text
    assert len(await stack.open_orders(session)) == 2
