"""Phase 1: create-order round trips at concurrency 1 and 64 (``rt_*``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from _common import cpu_text, say
from bus.engine import command_text, command_use, redis_commands
from bus.stack import Stack, new_id, percentile_ms, rt_payload

USER_POSITIONS = 5_000
"""Round trips (positions opened) per user before a coroutine goes on with a new user."""


async def round_trips(stack: Stack, concurrency: int, duration_s: float) -> dict[str, Any]:
    """``concurrency`` coroutines loop create-order round trips for ``duration_s``."""
    users = [new_id() for _ in range(concurrency)]
    await stack.register(users)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    deadline = time.perf_counter() + duration_s

    async def loop(user: str) -> None:
        payload = rt_payload(user)
        opened = 0
        while time.perf_counter() < deadline:
            if opened == USER_POSITIONS:  # the engine's cap per account is 10,000
                user, opened = new_id(), 0
                await stack.register([user])
                payload = rt_payload(user)
            opened += 1
            order_id = new_id()
            started = time.perf_counter()
            reply = await stack.request("create-order", payload, request_id=order_id)
            latencies.append(time.perf_counter() - started)
            status = str(reply.get("status"))
            statuses[status] += 1
            if stack.kept_order is None and status == "created":
                stack.kept_order = (order_id, payload)

    meter = stack.meter()
    commands = await redis_commands(stack.redis)
    started = time.perf_counter()
    await asyncio.gather(*(loop(user) for user in users))
    elapsed = time.perf_counter() - started
    cpu = meter.percent()
    redis_use = command_use(commands, await redis_commands(stack.redis), len(latencies))
    created = statuses.pop("created", 0)
    stack.open_positions += created
    if statuses:
        raise RuntimeError(f"round trips at concurrency {concurrency} got {dict(statuses)}")
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": percentile_ms(latencies, 0.50),
        "p99_ms": percentile_ms(latencies, 0.99),
        "max_ms": percentile_ms(latencies, 1.0),
        "count": len(latencies),
        "cpu": cpu,
        "redis": redis_use,
    }


async def measure_round_trips(stack: Stack) -> None:
    options = stack.options
    say(f"warm-up: concurrency 64 for {options.warmup_s:g}s")
    await round_trips(stack, 64, options.warmup_s)
    for concurrency in (1, 64):
        say(f"round trips: concurrency {concurrency} for {options.duration_s:g}s")
        level = await round_trips(stack, concurrency, options.duration_s)
        say(
            f"  c{concurrency}: {level['per_s']:,.0f} round trips/s, p50 {level['p50_ms']} ms, "
            f"p99 {level['p99_ms']} ms, max {level['max_ms']} ms ({level['count']:,} calls); "
            f"CPU {cpu_text(level['cpu'])}; {command_text(level['redis'])}"
        )
        suffix = f"_c{concurrency}"
        stack.results["rt_per_s" + suffix] = level["per_s"]
        stack.results["rt_p50_ms" + suffix] = level["p50_ms"]
        stack.results["rt_p99_ms" + suffix] = level["p99_ms"]
        stack.results["rt_max_ms" + suffix] = level["max_ms"]
        stack.results["cpu_pct" + suffix] = level["cpu"]
        stack.results["redis" + suffix] = level["redis"]
