"""Fixed-window rate limits: Redis-backed when Redis is used, in memory otherwise.

Sign-ups are counted in Redis (when it is used) so every API process shares the count.
Order placement is counted in each API process's memory: it is checked on every order, a
Redis round trip there cost about 15 % of the API's CPU per create-order, and the engine
behind it is the real bottleneck it protects. A deployment with N API processes therefore
lets a user place up to N x ``ORDER_LIMIT_PER_S`` (a user's requests spread over them).
"""

from __future__ import annotations

import time
from typing import Protocol

from tradepro.api.errors import ApiError


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_s: int) -> int:
        """Count one hit; return the seconds to wait if over ``limit``, else 0."""
        ...

    async def close(self) -> None: ...


async def enforce(limiter: RateLimiter, key: str, limit: int, window_s: int, what: str) -> None:
    retry_after = await limiter.hit(key, limit, window_s)
    if retry_after:
        raise ApiError(
            429,
            "rate_limited",
            f"too many {what}; try again in {retry_after} s",
            {"Retry-After": str(retry_after)},
        )


class MemoryRateLimiter:
    PRUNE_AT = 100_000
    """Windows kept before the ended ones are forgotten (then: twice what is left)."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}
        self._ends: dict[str, int] = {}
        self._prune_at = self.PRUNE_AT

    async def hit(self, key: str, limit: int, window_s: int) -> int:
        now = int(time.time())
        window = now - now % window_s
        start, count = self._windows.get(key, (window, 0))
        if start != window:
            start, count = window, 0
        count += 1
        self._windows[key] = (start, count)
        self._ends[key] = start + window_s
        if len(self._windows) > self._prune_at:  # forget ended windows now and then
            self._windows = {k: v for k, v in self._windows.items() if self._ends[k] > now}
            self._ends = {k: self._ends[k] for k in self._windows}
            self._prune_at = max(self.PRUNE_AT, 2 * len(self._windows))
        return start + window_s - now if count > limit else 0

    async def close(self) -> None:
        return None
