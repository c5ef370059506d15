"""The in-memory fixed-window limiter (the embedded default's), on a frozen clock."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tradepro.api.errors import ApiError
from tradepro.api.ratelimit import MemoryRateLimiter, enforce

HOUR = 1_900_000_800  # a multiple of 3600 (and of 1)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock(HOUR + 1000)
    monkeypatch.setattr("tradepro.api.ratelimit.time", SimpleNamespace(time=frozen.time))
    return frozen


async def test_the_limit_then_the_wait_until_the_window_ends(clock: Clock) -> None:
    limiter = MemoryRateLimiter()
    assert [await limiter.hit("k", 3, 3600) for _ in range(3)] == [0, 0, 0]
    assert await limiter.hit("k", 3, 3600) == 2600
    clock.now = HOUR + 3599
    assert await limiter.hit("k", 3, 3600) == 1
    assert await limiter.hit("other", 3, 3600) == 0  # keys are counted apart
    clock.now = HOUR + 3600
    assert await limiter.hit("k", 3, 3600) == 0  # a new window


async def test_enforce_raises_a_429_with_retry_after(clock: Clock) -> None:
    limiter = MemoryRateLimiter()
    await enforce(limiter, "orders:u", 1, 1, "orders")
    with pytest.raises(ApiError) as raised:
        await enforce(limiter, "orders:u", 1, 1, "orders")
    assert (raised.value.status, raised.value.error) == (429, "rate_limited")
    assert raised.value.headers == {"Retry-After": "1"}
    assert "orders" in raised.value.message


async def test_cleaning_up_never_forgets_a_live_window(clock: Clock) -> None:
    limiter = MemoryRateLimiter()
    for _ in range(3):
        await limiter.hit("signup-email:victim@example.com", 3, 3600)
    for number in range(100_000):  # many users placing orders this second
        await limiter.hit(f"orders:{number}", 20, 1)
    assert await limiter.hit("signup-email:victim@example.com", 3, 3600) > 0


async def test_ended_windows_are_forgotten_once_there_are_many(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MemoryRateLimiter, "PRUNE_AT", 2)
    limiter = MemoryRateLimiter()
    for key in ("a", "b"):
        await limiter.hit(key, 1, 1)
    clock.now += 1  # those windows have ended
    await limiter.hit("c", 1, 1)  # over 2 windows: the ended ones go
    assert list(limiter._windows) == ["c"]
    assert await limiter.hit("a", 1, 1) == 0  # a fresh window for a forgotten key
