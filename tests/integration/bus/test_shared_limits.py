"""The order and read limits in Redis, as several API processes hold them: never more than
the limit over all of them, a lease of hits per round trip, refusals answered from memory,
and Redis unreachable refusing (never letting through). Clocks frozen in the modules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support.frozen_clock import HOUR_START, FrozenClock
from tests.support.servers import free_port
from tradepro.bus.base import BusUnavailableError
from tradepro.bus.ratelimit import LeasedRateLimiter, lease_size
from tradepro.bus.readlimit import HOLD_S, LeasedTokenBuckets

pytestmark = pytest.mark.integration

SECOND = float(HOUR_START)  # a whole second (and hour)


@pytest.fixture
def clock(clock: FrozenClock) -> FrozenClock:
    """The limiters' clock (tests/conftest.py), at the start of a second."""
    clock.now = SECOND
    return clock


@pytest.fixture
async def processes(redis_url: str, bus_namespace: str) -> AsyncIterator[list[LeasedRateLimiter]]:
    """Three API processes' order limiters on one Redis."""
    limiters = [LeasedRateLimiter(redis_url, bus_namespace) for _ in range(3)]
    yield limiters
    for limiter in limiters:
        await limiter.close()


def test_a_lease_is_a_tenth_of_the_limit_within_bounds() -> None:
    assert [lease_size(n) for n in (1, 9, 20, 100, 5000, 10**6)] == [1, 1, 2, 10, 100, 100]


async def test_concurrent_hits_on_every_process_never_pass_the_limit(
    processes: list[LeasedRateLimiter], clock: FrozenClock
) -> None:
    limit = 200  # a lease of 20
    hits = [limiter.hit("bot", limit, 1) for limiter in processes for _ in range(limit)]
    waits = await asyncio.gather(*hits)
    allowed = waits.count(0)
    # Never over; under by at most what the other processes hold unspent.
    assert limit - (len(processes) - 1) * (lease_size(limit) - 1) <= allowed <= limit
    assert set(waits) == {0, 1}  # the refused wait for the next second
    # One round trip per lease (and one that finds the window used up), not one per hit.
    calls = sum(limiter.script_calls for limiter in processes)
    assert calls <= limit // lease_size(limit) + 2 * len(processes)

    before = calls
    assert await processes[0].hit("bot", limit, 1) == 1
    assert sum(limiter.script_calls for limiter in processes) == before  # refused from memory
    clock.now += 1
    assert await processes[0].hit("bot", limit, 1) == 0  # a new window


async def test_the_users_asking_in_one_turn_share_one_round_trip(
    processes: list[LeasedRateLimiter], clock: FrozenClock
) -> None:
    limiter = processes[0]
    users = [f"user-{number}" for number in range(64)]  # each one's first order this second
    assert await asyncio.gather(*(limiter.hit(user, 20, 1) for user in users)) == [0] * 64
    assert limiter.script_calls == 1
    # Each took a lease of 2: their second orders need no round trip at all.
    assert await asyncio.gather(*(limiter.hit(user, 20, 1) for user in users)) == [0] * 64
    assert limiter.script_calls == 1


async def test_each_key_is_counted_apart(
    processes: list[LeasedRateLimiter], clock: FrozenClock
) -> None:
    first, second = processes[:2]
    assert [await first.hit("alice", 2, 1) for _ in range(3)] == [0, 0, 1]
    assert await second.hit("alice", 2, 1) == 1  # shared: alice is done this second
    assert await second.hit("key:bob", 2, 1) == 0


async def test_token_buckets_are_shared_and_leased(
    redis_url: str, bus_namespace: str, clock: FrozenClock
) -> None:
    rate, burst = 5.0, 40  # a lease of 4
    first, second = (LeasedTokenBuckets(redis_url, bus_namespace, rate, burst) for _ in range(2))
    try:
        waits = [await (first, second)[n % 2].take("bot") for n in range(2 * burst)]
        assert waits[:burst] == [0.0] * burst
        assert all(wait == pytest.approx(1 / rate) for wait in waits[burst:])
        assert first.script_calls + second.script_calls <= burst // first.lease + 2
        calls = first.script_calls
        assert await first.take("bot") == pytest.approx(1 / rate)
        assert first.script_calls == calls  # refused from memory until a token is due

        clock.now += 1.0  # 5 tokens: this process leases 4 of them, the other gets the last
        assert [await first.take("bot") for _ in range(4)] == [0.0] * 4
        assert await second.take("bot") == 0.0
        assert await second.take("bot") > 0
        assert await first.take("bot") > 0

        clock.now += 2.0  # 10 tokens; a lease of 4, one spent, three held
        assert await first.take("bot") == 0.0
        calls = first.script_calls
        clock.now += HOLD_S  # held too long: dropped, and a fresh lease taken
        assert await first.take("bot") == 0.0
        assert first.script_calls == calls + 1
    finally:
        await first.close()
        await second.close()


async def test_the_reads_asking_in_one_turn_share_one_round_trip(
    redis_url: str, bus_namespace: str, clock: FrozenClock
) -> None:
    buckets = LeasedTokenBuckets(redis_url, bus_namespace, 20.0, 40)
    try:
        users = [f"user-{number}" for number in range(64)]
        assert await asyncio.gather(*(buckets.take(user) for user in users)) == [0.0] * 64
        assert buckets.script_calls == 1
    finally:
        await buckets.close()


async def test_redis_unreachable_refuses_with_the_bus_error(clock: FrozenClock) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    orders = LeasedRateLimiter(url)
    reads = LeasedTokenBuckets(url, "", 1.0, 10)
    try:
        with pytest.raises(BusUnavailableError):
            await orders.hit("bot", 20, 1)
        with pytest.raises(BusUnavailableError):
            await reads.take("bot")
        with pytest.raises(BusUnavailableError):  # nothing remembered as allowed
            await orders.hit("bot", 20, 1)
    finally:
        await orders.close()
        await reads.close()
