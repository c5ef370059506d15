"""A bot spreading its requests over several API processes gets one process's limits.

Behind one port (``API_PROCESSES=N``) the kernel spreads connections over the processes; a
bot that opens many connections reaches all of them. Were the limits counted in each
process, N processes would let it place and read N times the limit. These tests alternate
every request between two API apps on one Redis (each with its own clients, limits and
callback readers, as two ``tradepro api`` processes have), on a single Redis and on a
Redis Cluster. The limit clocks are frozen so a burst never straddles a window's edge.
"""

from __future__ import annotations

import httpx
import pytest

from tests.security.test_api_keys import bearer, make_key
from tests.support.api import API, Stack, assert_error
from tests.support.frozen_clock import HOUR_START, FrozenClock
from tradepro.bus.ratelimit import lease_size

pytestmark = pytest.mark.integration

SECOND = float(HOUR_START)  # a whole second (and hour)
ORDERS_PER_S = 20
READ_BURST = 20
ORDER = {"asset": "BTC_USDC", "side": "buy", "qty": "0.00001", "leverage": 100}


@pytest.fixture
def clock(clock: FrozenClock) -> FrozenClock:
    """The limiters' clock (tests/conftest.py), at the start of a second."""
    clock.now = SECOND
    return clock


async def alternate(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    count: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: object = None,
) -> list[httpx.Response]:
    """``count`` requests, every other one to the other API process."""
    answers = []
    for number in range(count):
        client = clients[number % 2]
        answers.append(await client.request(method, f"{API}{path}", json=body, headers=headers))
    return answers


def split(answers: list[httpx.Response]) -> tuple[int, list[httpx.Response]]:
    """How many were answered 200, and the others (each must be a 429 with Retry-After)."""
    refused = [answer for answer in answers if answer.status_code != 200]
    for answer in refused:
        assert_error(answer, 429, "rate_limited")
        assert int(answer.headers["Retry-After"]) >= 1
    return len(answers) - len(refused), refused


@pytest.mark.stack_settings(order_limit_per_s=ORDERS_PER_S)
async def test_orders_spread_over_two_processes_get_one_processs_limit(
    redis_or_cluster: Stack, clock: FrozenClock
) -> None:
    stack = redis_or_cluster
    assert lease_size(ORDERS_PER_S) > 1  # each process takes several orders at a time
    bot = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    async with stack.another_api() as second:
        clients = (stack.client, second)
        answers = await alternate(
            clients, 2 * ORDERS_PER_S, "POST", "/trade/create-order", bot.auth, ORDER
        )
        placed, refused = split(answers)
        assert placed == ORDERS_PER_S, f"{placed} orders placed in one second, over two processes"
        assert {answer.headers["Retry-After"] for answer in refused} == {"1"}
        assert len(await stack.open_orders(bot)) == placed  # the refused ones never ran

        clock.now += 1  # the next second: both processes place again
        again = await alternate(clients, 2, "POST", "/trade/create-order", bot.auth, ORDER)
        assert [answer.status_code for answer in again] == [200, 200]


@pytest.mark.stack_settings(read_limit_per_s=1, read_burst=READ_BURST)
async def test_reads_spread_over_two_processes_get_one_processs_burst(
    redis_or_cluster: Stack, clock: FrozenClock
) -> None:
    stack = redis_or_cluster
    assert lease_size(READ_BURST) > 1
    bot, other = await stack.sign_in(), await stack.sign_in()
    async with stack.another_api() as second:
        clients = (stack.client, second)
        answers = await alternate(clients, 2 * READ_BURST, "GET", "/balance/me", bot.auth)
        read, refused = split(answers)
        assert read == READ_BURST, f"{read} reads allowed at once, over two processes"
        # Refused from memory now, the bucket's refill time away (1 token at 1 a second).
        assert {answer.headers["Retry-After"] for answer in refused} == {"1"}
        # Another user's bucket is their own.
        assert (await second.get(f"{API}/balance/me", headers=other.auth)).status_code == 200

        clock.now += 2  # two tokens later: two reads, in whichever process, then none
        again = await alternate(clients, 4, "GET", "/trade/get-open-orders", bot.auth)
        assert sorted(answer.status_code for answer in again) == [200, 200, 429, 429]


@pytest.mark.stack_settings(
    key_order_limit_per_s=ORDERS_PER_S // 2, key_read_limit_per_s=1, key_read_burst=4
)
async def test_an_api_keys_limits_are_shared_by_every_process(
    redis_or_cluster: Stack, clock: FrozenClock
) -> None:
    stack = redis_or_cluster
    owner = await stack.sign_in()
    key = bearer((await make_key(stack, owner, ["read", "trade"]))["key"])
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    async with stack.another_api() as second:
        clients = (second, stack.client)
        orders = await alternate(clients, ORDERS_PER_S, "POST", "/trade/create-order", key, ORDER)
        assert split(orders)[0] == ORDERS_PER_S // 2
        reads = await alternate(clients, 8, "GET", "/trade/get-open-orders", key)
        assert split(reads)[0] == 4
        # The key's own limits were reached; its account's (larger) were not.
        assert (await second.get(f"{API}/balance/me", headers=owner.auth)).status_code == 200
