"""The per-user read limit: a token bucket on an injected clock."""

from __future__ import annotations

import pytest

from tradepro.api.errors import ApiError
from tradepro.api.readlimit import ReadLimiter


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_a_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    limiter = ReadLimiter(rate_per_s=20, burst=40, clock=clock)
    assert [limiter.take("alice") for _ in range(40)] == [0.0] * 40
    assert limiter.take("alice") == pytest.approx(0.05)  # one token every 1/20 s
    assert limiter.take("bob") == 0.0  # every user has a bucket of their own
    clock.now_s += 0.5  # 10 tokens back
    assert [limiter.take("alice") for _ in range(10)] == [0.0] * 10
    assert limiter.take("alice") > 0
    clock.now_s += 3600  # a quiet spell refills the bucket, never beyond the burst
    assert [limiter.take("alice") for _ in range(40)] == [0.0] * 40
    assert limiter.take("alice") > 0


def test_refused_reads_do_not_dig_the_hole_deeper() -> None:
    clock = Clock()
    limiter = ReadLimiter(rate_per_s=1, burst=1, clock=clock)
    assert limiter.take("alice") == 0.0
    for _ in range(100):
        assert limiter.take("alice") == pytest.approx(1.0)
    clock.now_s += 1.0
    assert limiter.take("alice") == 0.0


async def test_enforce_is_a_429_with_retry_after_in_whole_seconds() -> None:
    limiter = ReadLimiter(rate_per_s=0.25, burst=1, clock=Clock())
    await limiter.enforce("alice")
    with pytest.raises(ApiError) as refused:
        await limiter.enforce("alice")
    error = refused.value
    assert (error.status, error.error, error.headers) == (429, "rate_limited", {"Retry-After": "4"})


def test_idle_buckets_are_forgotten() -> None:
    clock = Clock()
    limiter = ReadLimiter(rate_per_s=10, burst=10, clock=clock)
    limiter.PRUNE_AT = 100  # type: ignore[misc]
    limiter._prune_at = 100
    for user in range(100):
        limiter.take(f"user-{user}")
    clock.now_s += 1.0  # all of them full again
    limiter.take("late")
    limiter.take("later")
    assert len(limiter._buckets) <= 2
