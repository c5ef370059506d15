"""Rate-limit counters in Redis, shared by every API process (fixed windows).

Sign-ups are rare: each is counted in Redis (``RedisRateLimiter``, one script call).
Orders are checked on every order, so each API process takes a lease of several hits at a
time (``LeasedRateLimiter``): one script call adds a lease's worth to the window's shared
count, and the process spends it locally, with no round trip, until it is used up.
Redis never grants more than the limit in a window, so N processes together never allow
more than one would; what a process holds unspent is lost to the others for the rest of
the window, so a user whose requests are spread over N processes may be refused up to
(N - 1) x (lease - 1) hits before the limit. A lease is a tenth of the limit (at most
``MAX_LEASE``): with ``ORDER_LIMIT_PER_S=20``, 2 hits, one grant per two orders, and the
grants asked for in one event-loop turn share one script call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from tradepro.bus.batches import ScriptBatches, limit_call
from tradepro.bus.clients import redis_client
from tradepro.bus.names import ORDER_LIMIT_KEY, RATE_LIMIT_KEY

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


_LEASES = """
local granted = {}
for i, key in ipairs(KEYS) do
  local size, limit = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
  local count = tonumber(redis.call('GET', key) or '0')
  local grant = math.max(0, math.min(size, limit - count))
  if grant > 0 and redis.call('INCRBY', key, grant) == grant then
    redis.call('EXPIRE', key, ARGV[3 * i])
  end
  granted[i] = grant
end
return granted
"""
"""For each window counter KEYS[i], grant up to ARGV[3i-2] hits, never past the limit
ARGV[3i-1]; a new window's counter lives ARGV[3i] seconds. Returns the hits granted."""


@dataclass
class _Lease:
    """One key's hits held by this process in one window."""

    window: int
    ends: int
    tokens: int = 0
    last: bool = False
    """Redis granted less than was asked: the window is used up once these are spent."""
    taking: asyncio.Future[None] | None = None
    """The last grant asked for: while not done, the key's other hits wait for it."""


def _granted(lease: _Lease, size: int, hits: Any) -> None:
    lease.tokens += int(hits)
    lease.last = int(hits) < size


class LeasedRateLimiter:
    """Fixed windows counted in Redis, taken a lease at a time (the module says why).

    The grants asked for in one event-loop turn (many users' first order of a second, say)
    go to Redis as one script call (``tradepro.bus.batches``): a user placing one order a
    second still needs a grant each second, but shares its round trip with every other
    user asking in that turn."""

    def __init__(self, url: str, namespace: str = "", *, cluster: bool = False) -> None:
        self._redis = redis_client(url, cluster=cluster)
        self._batches = ScriptBatches(self._redis, _LEASES, "order limit", cluster=cluster)
        self._prefix = f"{namespace}{ORDER_LIMIT_KEY}:"
        self._leases: dict[str, _Lease] = {}
        self._prune_at = PRUNE_AT

    @property
    def script_calls(self) -> int:
        """Round trips to Redis so far (the benchmark and the tests read it)."""
        return self._batches.calls

    async def hit(self, key: str, limit: int, window_s: int) -> int:
        now = int(time.time())
        window = now - now % window_s
        lease = self._leases.get(key)
        if lease is None or lease.window != window:
            lease = self._leases[key] = _Lease(window, window + window_s)
            if len(self._leases) > self._prune_at:
                self._prune(now)
        while not lease.tokens and not lease.last:
            if lease.taking is None or lease.taking.done():  # one grant asked at a time
                size = lease_size(limit)
                name = f"{self._prefix}{key}:{window}"
                grant = partial(_granted, lease, size)
                lease.taking = self._batches.ask(name, (size, limit, window_s + 1), grant)
            await asyncio.shield(lease.taking)  # a caller cancelled leaves it to the others
        if lease.tokens:
            lease.tokens -= 1
            return 0
        return lease.ends - now  # refused here, with no round trip, until the window ends

    def _prune(self, now: int) -> None:
        self._leases = {key: lease for key, lease in self._leases.items() if lease.ends > now}
        self._prune_at = max(PRUNE_AT, 2 * len(self._leases))

    async def close(self) -> None:
        await self._redis.aclose()
