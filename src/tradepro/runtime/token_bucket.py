"""A token bucket: ``rate_per_s`` tokens a second, at most ``burst`` saved, full at first.
Rates, not money: floats are fine here. The API's read limit keeps one per user in memory
(``api/readlimit.py``), the WebSocket server one per connection for its messages."""

from __future__ import annotations


def refilled(tokens: float, then: float, now: float, rate_per_s: float, burst: float) -> float:
    """The tokens a bucket holding ``tokens`` at ``then`` holds at ``now``."""
    return min(burst, tokens + (now - then) * rate_per_s)


def wait_for_token(tokens: float, rate_per_s: float) -> float:
    """Seconds until a bucket holding ``tokens`` (below 1) holds a whole one."""
    return (1 - tokens) / rate_per_s
