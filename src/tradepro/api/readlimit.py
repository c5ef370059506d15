"""Reads per user: a token bucket in each API process.

One user polling get-open-orders 95 times a second over 600 positions once pushed another
user's balance/me from 5 ms to 682 ms at the median: every read is a round trip through the
engine, whose loop renders the positions it lists. So each user may read ``rate_per_s``
times a second, sustained, and ``burst`` times at once after a quiet spell (a page that
loads its balance, positions and history together); beyond that the read is answered 429
``rate_limited`` with ``Retry-After``. Like the order limit, it is counted in each API
process's memory (N processes allow N x the rate): it is checked on every read, and a
Redis round trip there would cost more than the read it guards.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from tradepro.api.errors import ApiError


class ReadLimiter:
    """Token buckets by key: ``rate_per_s`` tokens a second, at most ``burst`` saved."""

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
        tokens = min(self.burst, tokens + (now - then) * self.rate_per_s)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate_per_s
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

    def enforce(self, key: str) -> None:
        """Raise ``ApiError`` 429 ``rate_limited`` when ``key`` has no read left now."""
        wait_s = self.take(key)
        if wait_s:
            retry_after = max(1, math.ceil(wait_s))
            raise ApiError(
                429,
                "rate_limited",
                f"too many reads; try again in {retry_after} s",
                {"Retry-After": str(retry_after)},
            )
