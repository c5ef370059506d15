"""The rate limiters' clock, frozen: they use fixed windows on ``time.time()``, and a test
that freezes it (in the limiter modules only) never has a burst straddle a window edge by
chance. The ``clock`` fixture (tests/conftest.py) freezes it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

HOUR_START = 1_900_000_800  # a multiple of 3600: 1000 s into it, 2600 s are left


class FrozenClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def freeze_limiters(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """Freeze the limiters' clock 1000 s into an hour (a multiple of 3600)."""
    assert HOUR_START % 3600 == 0
    frozen = FrozenClock(HOUR_START + 1000)
    fake_time = SimpleNamespace(time=frozen.time)
    monkeypatch.setattr("tradepro.api.ratelimit.time", fake_time)
    monkeypatch.setattr("tradepro.bus.ratelimit.time", fake_time)
    monkeypatch.setattr("tradepro.bus.readlimit.time", fake_time)
    return frozen
