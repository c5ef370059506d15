"""Rate-limit counters in Redis, shared by every API process (fixed windows)."""

from __future__ import annotations

import time

from redis import exceptions as redis_errors

from tradepro.bus.base import BusUnavailableError
from tradepro.bus.clients import redis_client

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
        self._prefix = f"{namespace}ratelimit:"

    async def hit(self, key: str, limit: int, window_s: int) -> int:
        now = int(time.time())
        window = now - now % window_s
        name = f"{self._prefix}{key}:{window}"
        try:
            count = await self._redis.eval(_HIT, 1, name, window_s + 1)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
            raise BusUnavailableError(f"Redis rate limit failed: {error}") from error
        return window + window_s - now if int(count) > limit else 0

    async def close(self) -> None:
        await self._redis.aclose()
