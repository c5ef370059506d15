"""Phase 2: tick to close (``tick_to_close_*``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from _common import cpu_text, say
from bus.options import ASSETS, TICK_ASSET, WARMUP_TICK_SAMPLES
from bus.stack import Stack, new_id, percentile_ms, rt_payload, scaled_text


async def tick_sample(stack: Stack) -> float:
    """Open a buy with a take-profit one tick above its open price, tick through it."""
    decimals = ASSETS[TICK_ASSET][1]
    tracker = stack.tracker
    async with stack.price_lock:
        _, ask = stack.quotes[TICK_ASSET]
        take_profit = ask + 1
        order = rt_payload(stack.fill_users[0]) | {"takeProfit": scaled_text(take_profit, decimals)}
        reply = await stack.request("create-order", order)
        if reply.get("status") != "created":
            raise RuntimeError(f"tick sample order refused: {reply}")
        stack.open_positions += 1
        stack.quotes[TICK_ASSET] = (take_profit, take_profit + 1)
        tick_id = new_id()
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        tracker.tick_waiters[tick_id] = waiter
        started = time.perf_counter()
        await stack.bus.publish("price-update", stack.price_payload(TICK_ASSET), tick_id)
        try:
            arrived = await asyncio.wait_for(waiter, 10)
        except TimeoutError:
            raise RuntimeError(f"no closed callback for tick {tick_id}") from None
        stack.open_positions -= 1
        return arrived - started


async def measure_ticks(stack: Stack) -> None:
    options = stack.options
    say(f"tick to close: {WARMUP_TICK_SAMPLES} warm-up + {options.tick_samples} samples with "
        f"{stack.open_positions:,} open positions")  # fmt: skip
    for _ in range(WARMUP_TICK_SAMPLES):
        await tick_sample(stack)
    meter = stack.meter()
    latencies = [await tick_sample(stack) for _ in range(options.tick_samples)]
    cpu = meter.percent()
    await asyncio.sleep(0.2)  # any second close of a tick would have arrived by now
    closes = Counter(stack.tracker.tick_closes.values())
    if set(closes) != {1}:
        raise RuntimeError(f"ticks closed other than one position each: {dict(closes)}")
    p50, p99 = percentile_ms(latencies, 0.50), percentile_ms(latencies, 0.99)
    worst = percentile_ms(latencies, 1.0)
    say(f"  tick to close: p50 {p50} ms, p99 {p99} ms, max {worst} ms "
        f"({len(latencies)} samples, 1 close each); CPU {cpu_text(cpu)}")  # fmt: skip
    stack.results["tick_samples"] = len(latencies)
    stack.results["tick_to_close_p50_ms"] = p50
    stack.results["tick_to_close_max_ms"] = worst
    stack.results["tick_open_positions"] = stack.open_positions
    stack.results["tick_to_close_p99_ms"] = p99
