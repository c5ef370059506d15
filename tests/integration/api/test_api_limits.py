"""Rate limits (memory on the embedded default, Redis with Redis) and Idempotency-Key.

The limiters use fixed windows on ``time.time()``; the tests freeze that clock in the
limiter modules only, so a burst never straddles a window edge by chance.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support.api import API, Stack, assert_error, new_email
from tests.support.frozen_clock import HOUR_START, FrozenClock
from tradepro.api.app import create_app
from tradepro.api.ratelimit import MemoryRateLimiter
from tradepro.bus.ratelimit import RedisRateLimiter

pytestmark = pytest.mark.integration


@pytest.mark.stack_settings(signup_limit_per_email_per_hour=3)
async def test_sign_ups_per_email_are_limited(stack: Stack, clock: FrozenClock) -> None:
    expected = RedisRateLimiter if stack.settings.redis_url else MemoryRateLimiter
    assert isinstance(stack.context.limiter, expected)
    per_email = stack.settings.signup_limit_per_email_per_hour
    assert per_email == 3  # from the settings
    email = new_email()
    spellings = [email, email.upper(), f"  {email}"]  # one address, however it is written
    for attempt in range(per_email):
        spelling = spellings[attempt % len(spellings)]
        signed_up = await stack.client.post(f"{API}/auth/signup", json={"email": spelling})
        assert signed_up.status_code == 200, signed_up.text
        await stack.mailbox.link(email, attempt)  # each to the one (normalised) address
    limited = await stack.client.post(f"{API}/auth/signup", json={"email": email.upper()})
    body = assert_error(limited, 429, "rate_limited")
    assert limited.headers["retry-after"] == "2600"
    assert "2600" in body["message"]
    assert len(stack.mailbox.links_to(email)) == per_email  # no mail for the one refused
    # Another address is not affected.
    assert (await stack.client.post(f"{API}/auth/signup", json={"email": new_email()})).is_success

    # With Redis the count is shared by every API process; in memory it is per process.
    second = create_app(stack.settings)
    async with second.router.lifespan_context(second):
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as other:
            elsewhere = await other.post(f"{API}/auth/signup", json={"email": email})
    if stack.settings.redis_url:
        assert_error(elsewhere, 429, "rate_limited")
    else:
        assert elsewhere.status_code == 200, elsewhere.text

    # The next hour's window starts afresh.
    clock.now = HOUR_START + 3600
    assert (await stack.client.post(f"{API}/auth/signup", json={"email": email})).is_success


@pytest.mark.stack_settings(order_limit_per_s=4)
async def test_orders_per_user_are_limited(stack: Stack, clock: FrozenClock) -> None:
    clock.now = HOUR_START  # the start of a one-second window: 1 s to wait once over
    per_second = stack.settings.order_limit_per_s
    assert per_second == 4  # from the settings
    alice, bob = await stack.sign_in(), await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    for _ in range(per_second):
        opened = await stack.create_order(alice, qty="0.00001", leverage=100)
        assert opened.status_code == 200, opened.text
    limited = await stack.create_order(alice, qty="0.00001", leverage=100)
    assert_error(limited, 429, "rate_limited")
    assert limited.headers["retry-after"] == "1"
    assert len(await stack.open_orders(alice)) == per_second  # the one over the limit never ran
    assert (await stack.create_order(bob, qty="0.00001", leverage=100)).status_code == 200
    clock.now = HOUR_START + 1
    assert (await stack.create_order(alice, qty="0.00001", leverage=100)).status_code == 200


async def test_an_idempotency_key_opens_one_position(stack: Stack) -> None:
    alice, bob = await stack.sign_in(), await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    order = {"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10}
    url = f"{API}/trade/create-order"
    first = await stack.client.post(url, json=order, headers=alice.auth | key)
    again = await stack.client.post(url, json=order, headers=alice.auth | key)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json()
    assert [o["orderId"] for o in await stack.open_orders(alice)] == [first.json()["orderId"]]
    assert (await stack.balance(alice))["lockedMargin"] == "100.01"  # locked once

    # The key is the caller's: another user with the same key gets an order of their own.
    bobs = await stack.client.post(url, json=order, headers=bob.auth | key)
    assert bobs.status_code == 200, bobs.text
    assert bobs.json()["orderId"] != first.json()["orderId"]
    assert len(await stack.open_orders(bob)) == 1
    # A new key is a new order.
    other = await stack.client.post(
        url, json=order, headers=alice.auth | {"Idempotency-Key": str(uuid.uuid4())}
    )
    assert other.status_code == 200 and other.json()["orderId"] != first.json()["orderId"]
    assert len(await stack.open_orders(alice)) == 2


async def test_concurrent_requests_with_one_key_open_one_position(embedded: Stack) -> None:
    stack = embedded
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    order = {"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10}
    url = f"{API}/trade/create-order"
    first, second = await asyncio.gather(
        stack.client.post(url, json=order, headers=session.auth | key),
        stack.client.post(url, json=order, headers=session.auth | key),
    )
    assert first.status_code == 200, first.text
    assert len(await stack.open_orders(session)) == 1
    assert second.status_code in (200, 409)
