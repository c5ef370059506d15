"""What the order limit shared in Redis costs an API process per order, in CPU.

In this process, against the real Redis: ``--users`` users each place ``hits`` orders in
each one-second window (a fake clock steps the windows, so no wall time is waited for),
through the in-memory limiter (one process, the embedded default) and through the leased
Redis one (``LeasedRateLimiter``: a script call per lease). Reported per scenario: the
process's CPU per order (``*_cpu_us``; the client side of the round trips included, as an
API process pays it) and the script calls per order. Scenarios: users placing one order
a second (a lease each second: the most round trips), arriving together (one script call
for all the users asking in an event-loop turn) or one at a time (one call each: the
worst case), a bot at ``ORDER_LIMIT_PER_S`` (20, a lease of 2), and the API benchmark's
users (``bench/api_load.py`` sets the limit to
100,000: a lease of 100, about 100 orders each a second). Last line: JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from types import SimpleNamespace
from typing import Any

from redis.asyncio import Redis

from tradepro.api import ratelimit as memory_module
from tradepro.api.ratelimit import MemoryRateLimiter, RateLimiter
from tradepro.bus import ratelimit

SCENARIOS = {
    "one_a_second": (20, 1, True),
    "one_a_second_alone": (20, 1, False),
    "bot_at_limit": (20, 20, True),
    "api_bench": (100_000, 100, True),
}
"""name -> (limit per second, orders each user places per window, whether the users' orders
of a step arrive together, in one event-loop turn, or one after the other: then each
script call serves one user, the cost when requests come in one at a time)."""


class SteppedClock:
    def __init__(self) -> None:
        self.now = 1_900_000_800.0

    def time(self) -> float:
        return self.now


async def drive(
    limiter: RateLimiter,
    clock: SteppedClock,
    users: int,
    scenario: tuple[int, int, bool],
    windows: int,
) -> tuple[int, float]:
    """Orders placed (all must pass) and the CPU seconds they took."""
    limit, hits, together = scenario
    names = [str(uuid.uuid4()) for _ in range(users)]
    started = time.process_time()
    placed = 0
    for _ in range(windows):
        clock.now += 1
        for _ in range(hits):  # each user's orders of this window, all users at once
            if together:
                waits = await asyncio.gather(*(limiter.hit(name, limit, 1) for name in names))
            else:
                waits = [await limiter.hit(name, limit, 1) for name in names]
            if any(waits):
                raise RuntimeError(f"an order under the limit was refused: {waits}")
            placed += len(waits)
    return placed, time.process_time() - started


async def main(args: argparse.Namespace) -> dict[str, Any]:
    clock = SteppedClock()
    ratelimit.time = SimpleNamespace(time=clock.time)  # type: ignore[assignment]
    memory_module.time = SimpleNamespace(time=clock.time)  # type: ignore[assignment]
    namespace = f"bench-limits-{uuid.uuid4().hex[:8]}:"
    result: dict[str, Any] = {}
    for name, scenario in SCENARIOS.items():
        windows = max(1, args.orders // (args.users * scenario[1]))
        memory = MemoryRateLimiter()
        placed, memory_s = await drive(memory, clock, args.users, scenario, windows)
        leased = ratelimit.LeasedRateLimiter(args.redis, namespace)
        try:
            placed, leased_s = await drive(leased, clock, args.users, scenario, windows)
        finally:
            await leased.close()
        result[f"{name}_memory_cpu_us"] = round(1e6 * memory_s / placed, 1)
        result[f"{name}_leased_cpu_us"] = round(1e6 * leased_s / placed, 1)
        result[f"{name}_calls_per_order"] = round(leased.script_calls / placed, 3)
        print(f"{name}: {placed:,} orders; {result}", flush=True)
    raw = Redis.from_url(args.redis)
    keys = [key async for key in raw.scan_iter(f"{namespace}*")]
    if keys:
        await raw.delete(*keys)
    await raw.aclose()
    result["load_average"] = os.getloadavg()[0]
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--orders", type=int, default=40_000, help="per scenario, about")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
