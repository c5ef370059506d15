"""Rate-limit counters in Redis, shared by every API process (fixed windows).

Sign-ups are rare: each is counted in Redis (``RedisRateLimiter``, one script call).
Orders are checked on every order, so each API process takes a lease of several hits at a
time (``LeasedRateLimiter``): one script call adds a lease's worth to the window's shared
count, and the process spends it locally, with no round trip, until it is used up.
Redis never grants more than the limit in a window, so N processes together never allow
more than one would; what a process holds unspent is lost to the others for the rest of
the window, so a user whose requests are spread over N processes may be refused up to
(N - 1) x (lease - 1) hits before the limit. A lease is a tenth of the limit (at most
``MAX_LEASE``): with ``ORDER_LIMIT_PER_S=20``, 2 hits, one round trip per two orders.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from redis import exceptions as redis_errors

from tradepro.bus.base import BusFullError, BusUnavailableError
from tradepro.bus.clients import redis_client
from tradepro.bus.names import ORDER_LIMIT_KEY, RATE_LIMIT_KEY

_T = TypeVar("_T")

LEASE_PARTS = 10
"""A lease is this fraction of the limit (at least 1): the bound on how early a user spread
over several processes may be refused stays a tenth of the limit per other process."""

MAX_LEASE = 100
"""The most hits one lease holds, however high the limit."""

PRUNE_AT = 100_000
"""Leases kept before the ended ones are forgotten (then: twice what is left)."""


def lease_size(limit: int) -> int:
    """How many hits one script call takes for a process: a tenth of ``limit``, 1..100."""
    return max(1, min(MAX_LEASE, limit // LEASE_PARTS))


async def limit_call(what: str, call: Awaitable[_T]) -> _T:
    """One limit script call: Redis unreachable becomes ``BusUnavailableError``, Redis out
    of memory ``BusFullError`` (both answered 503: a limit that cannot count refuses,
    never lets everything through)."""
    try:
        return await call
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
        raise BusUnavailableError(f"Redis {what} failed: {error}") from error
    except redis_errors.ResponseError as error:
        if not isinstance(error, redis_errors.OutOfMemoryError) and "OOM" not in str(error):
            raise
        raise BusFullError(f"Redis refused {what}: out of memory: {error}") from error


_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
"""Count a hit and give a new window's counter its time to live, atomically: one key, so
one slot on a Redis Cluster."""


class RedisRateLimiter:
    """INCR + EXPIRE per window (one script): shared by every API process."""

    def __init__(self, url: str, namespace: str = "", *, cluster: bool = False) -> None:
        self._redis = redis_client(url, cluster=cluster)
        self._prefix = f"{namespace}{RATE_LIMIT_KEY}:"

    async def hit(self, key: str, limit: int, window_s: int) -> int:
        now = int(time.time())
        window = now - now % window_s
        name = f"{self._prefix}{key}:{window}"
        count = await limit_call("rate limit", self._redis.eval(_HIT, 1, name, window_s + 1))
        return window + window_s - now if int(count) > limit else 0

    async def close(self) -> None:
        await self._redis.aclose()


_LEASE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - count)
if grant <= 0 then return 0 end
if redis.call('INCRBY', KEYS[1], grant) == grant then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return grant
"""
"""Grant up to ARGV[1] hits of the window whose count is KEYS[1], never past the limit
ARGV[2]; a new window's counter lives ARGV[3] seconds. Returns the hits granted."""


@dataclass
class _Lease:
    """One key's hits held by this process in one window."""

    window: int
    ends: int
    tokens: int = 0
    last: bool = False
    """Redis granted less than was asked: the window is used up once these are spent."""
    taking: asyncio.Future[None] | None = None
    """A script call in flight for this key: the others wait for it rather than ask too."""


class LeasedRateLimiter:
    """Fixed windows counted in Redis, taken a lease at a time (the module says why)."""

    def __init__(self, url: str, namespace: str = "", *, cluster: bool = False) -> None:
        self._redis = redis_client(url, cluster=cluster)
        self._prefix = f"{namespace}{ORDER_LIMIT_KEY}:"
        self._leases: dict[str, _Lease] = {}
        self._prune_at = PRUNE_AT
        self.script_calls = 0
        """Round trips to Redis so far (the benchmark and the tests read it)."""

    async def hit(self, key: str, limit: int, window_s: int) -> int:
        now = int(time.time())
        window = now - now % window_s
        lease = self._leases.get(key)
        if lease is None or lease.window != window:
            lease = self._leases[key] = _Lease(window, window + window_s)
            if len(self._leases) > self._prune_at:
                self._prune(now)
        while not lease.tokens and not lease.last:
            await self._take(lease, key, limit, window_s)
        if lease.tokens:
            lease.tokens -= 1
            return 0
        return lease.ends - now  # refused here, with no round trip, until the window ends

    async def _take(self, lease: _Lease, key: str, limit: int, window_s: int) -> None:
        if lease.taking is not None:  # shielded: a caller cancelled leaves it to the others
            await asyncio.shield(lease.taking)
            return
        size = lease_size(limit)
        taking = lease.taking = asyncio.get_running_loop().create_future()
        self.script_calls += 1
        name = f"{self._prefix}{key}:{lease.window}"
        try:
            call = self._redis.eval(_LEASE, 1, name, size, limit, window_s + 1)
            granted = int(await limit_call("order limit", call))
        finally:
            lease.taking = None
            taking.set_result(None)
        lease.tokens += granted
        lease.last = granted < size

    def _prune(self, now: int) -> None:
        self._leases = {key: lease for key, lease in self._leases.items() if lease.ends > now}
        self._prune_at = max(PRUNE_AT, 2 * len(self._leases))

    async def close(self) -> None:
        await self._redis.aclose()
