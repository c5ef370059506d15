"""Rate-limit counters in Redis, shared by every API process (fixed windows)."""

from __future__ import annotations

import time

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from tradepro.bus.base import BusUnavailableError


class RedisRateLimiter:
    """INCR + EXPIRE per window: shared by every API process."""

    def __init__(self, url: str, namespace: str = "") -> None:
        self._redis = Redis.from_url(url)
        self._prefix = f"{namespace}ratelimit:"

    async def hit(self, key: str, limit: int, window_s: int) -> int:
        now = int(time.time())
        window = now - now % window_s
        name = f"{self._prefix}{key}:{window}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, window_s + 1)
                count, _ = await pipe.execute()
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
            raise BusUnavailableError(f"Redis rate limit failed: {error}") from error
        return window + window_s - now if int(count) > limit else 0

    async def close(self) -> None:
        await self._redis.aclose()
