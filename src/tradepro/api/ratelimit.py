"""Fixed-window rate limits: Redis-backed when Redis is used, in memory otherwise."""

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
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}
        self._ends: dict[str, int] = {}

    async def hit(self, key: str, limit: int, window_s: int) -> int:
        now = int(time.time())
        window = now - now % window_s
        start, count = self._windows.get(key, (window, 0))
        if start != window:
            start, count = window, 0
        count += 1
        self._windows[key] = (start, count)
        self._ends[key] = start + window_s
        if len(self._windows) > 100_000:  # forget old windows now and then
            self._windows = {k: v for k, v in self._windows.items() if self._ends[k] > now}
            self._ends = {k: self._ends[k] for k in self._windows}
        return start + window_s - now if count > limit else 0

    async def close(self) -> None:
        return None
