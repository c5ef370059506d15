"""Fixed-window rate limits: Redis-backed when Redis is used, in memory otherwise.

With Redis, every API process shares the counts: sign-ups one script call each
(``tradepro.bus.ratelimit.RedisRateLimiter``), orders a lease of a tenth of the limit at a
time (``LeasedRateLimiter``: checked on every order, where a Redis round trip each had cost
about 15 % of the API's CPU per create-order), so N processes allow what one does. The
embedded default has one API process and counts in its memory (``MemoryRateLimiter``).
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
