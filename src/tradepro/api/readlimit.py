"""Reads per account and per API key: token buckets, shared by every API process when
Redis is used.

One user polling get-open-orders 95 times a second over 600 positions once pushed another
user's balance/me from 5 ms to 682 ms at the median: every read is a round trip through the
engine, whose loop renders the positions it lists. So each user may read ``rate_per_s``
times a second, sustained, and ``burst`` times at once after a quiet spell (a page that
loads its balance, positions and history together); beyond that the read is answered 429
``rate_limited`` with ``Retry-After``.

With Redis the bucket is kept there (``SharedReadLimiter`` over
``tradepro.bus.readlimit.LeasedTokenBuckets``), so N API processes allow the rate one does:
each takes a tenth of the burst at a time in one script call and spends it locally (a
Redis round trip per read would cost more than many reads it guards). The embedded
default has one API process and keeps the bucket in its memory (``ReadLimiter``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from tradepro.api.errors import ApiError
from tradepro.bus.readlimit import LeasedTokenBuckets
from tradepro.runtime.token_bucket import refilled, wait_for_token


class ReadLimits(Protocol):
    async def enforce(self, key: str, whose: str = "") -> None:
        """Raise ``ApiError`` 429 ``rate_limited`` when ``key`` has no read left now
        (``whose`` names what is counted in the message, e.g. "this API key's")."""
        ...

    async def close(self) -> None: ...


def refuse_read(wait_s: float, whose: str = "") -> None:
    """Raise the 429 for a read that may be made again in ``wait_s`` (when above 0)."""
    if wait_s:
        retry_after = max(1, math.ceil(wait_s))
        counted = f" {whose}" if whose else ""
        raise ApiError(
            429,
            "rate_limited",
            f"too many reads{counted}; try again in {retry_after} s",
            {"Retry-After": str(retry_after)},
        )


class ReadLimiter:
    """Token buckets by key in this process's memory: ``rate_per_s`` tokens a second, at
    most ``burst`` saved."""

    PRUNE_AT = 100_000
    """Buckets kept before the full ones (idle long enough to be refilled) are dropped."""

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        """key -> (tokens, when they were counted)."""
        self._prune_at = self.PRUNE_AT

    def take(self, key: str) -> float:
        """Take one token: 0 when there was one, else the seconds until there is."""
        now = self._clock()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = refilled(tokens, then, now, self.rate_per_s, self.burst)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return wait_for_token(tokens, self.rate_per_s)
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > self._prune_at:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        refill_s = self.burst / self.rate_per_s
        self._buckets = {
            key: bucket for key, bucket in self._buckets.items() if now - bucket[1] < refill_s
        }
        self._prune_at = max(self.PRUNE_AT, 2 * len(self._buckets))

    async def enforce(self, key: str, whose: str = "") -> None:
        """Raise ``ApiError`` 429 ``rate_limited`` when ``key`` has no read left now."""
        refuse_read(self.take(key), whose)

    async def close(self) -> None:
        return None


class SharedReadLimiter:
    """The same buckets kept in Redis, shared by every API process (the module says how)."""

    def __init__(self, buckets: LeasedTokenBuckets) -> None:
        self.buckets = buckets

    async def enforce(self, key: str, whose: str = "") -> None:
        """Raise ``ApiError`` 429 ``rate_limited`` when ``key`` has no read left now."""
        refuse_read(await self.buckets.take(key), whose)

    async def close(self) -> None:
        await self.buckets.close()
