"""The one backoff: exponential ceiling, jitter below it, capped, reset when healthy."""

from __future__ import annotations

import random

import pytest

from tradepro.runtime.backoff import FULL_JITTER, Backoff


def test_the_ceiling_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base_s=0.25, cap_s=30.0, jitter=FULL_JITTER, rng=random.Random(1))
    ceilings = []
    for _ in range(12):
        ceilings.append(backoff.ceiling_s())
        backoff.next_delay_s()
    assert ceilings[:8] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert set(ceilings[7:]) == {30.0}


def test_delays_are_drawn_from_zero_to_the_ceiling() -> None:
    delays: list[float] = []
    for seed in range(200):
        backoff = Backoff(base_s=1.0, cap_s=30.0, jitter=FULL_JITTER, rng=random.Random(seed))
        backoff.failures = 3  # ceiling 8 s
        delays.append(backoff.next_delay_s())
    assert all(0.0 <= delay <= 8.0 for delay in delays)
    # Full jitter: the whole range is used, low delays included (equal jitter never goes
    # below half the ceiling), so clients that failed together spread out.
    assert min(delays) < 1.0 and max(delays) > 7.0


def test_reset_starts_over_from_the_base() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0, jitter=FULL_JITTER, rng=random.Random(2))
    for _ in range(10):
        backoff.next_delay_s()
    assert backoff.ceiling_s() == 30.0
    backoff.reset()
    assert backoff.ceiling_s() == 0.5
    assert backoff.next_delay_s() <= 0.5


def test_a_huge_failure_count_stays_at_the_cap() -> None:
    backoff = Backoff(base_s=0.1, cap_s=5.0, jitter=FULL_JITTER)
    backoff.failures = 10_000
    assert backoff.ceiling_s() == 5.0


@pytest.mark.parametrize(("base_s", "cap_s"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_bad_settings_are_refused(base_s: float, cap_s: float) -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s, cap_s, jitter=FULL_JITTER)


def test_equal_jitter_stays_in_the_upper_half() -> None:
    delays: list[float] = []
    for seed in range(200):
        backoff = Backoff(base_s=1.0, cap_s=30.0, rng=random.Random(seed))
        backoff.failures = 3  # ceiling 8 s
        delays.append(backoff.next_delay_s())
    assert all(4.0 <= delay <= 8.0 for delay in delays)
    assert min(delays) < 4.5 and max(delays) > 7.5


def test_a_jitter_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=1.5)
