"""Growing the engine to a number of open positions: create-orders published in batches
through the bus, at most ``--window`` unanswered."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from _common import cpu_text, load_average, say
from bus.engine import command_text, command_use, redis_commands
from bus.options import ASSETS, FILL_LEVERAGES, PROGRESS_EVERY_S
from bus.stack import Stack, new_id, scaled_text, wait_for


def fill_templates() -> list[dict[str, Any]]:
    """Order shapes without user: 3 assets x 2 sides x 4 leverages x 4 trigger mixes
    (none, take-profit, stop-loss, both), levels 50 % from the starting price."""
    templates: list[dict[str, Any]] = []
    for mix in range(4):
        for leverage in FILL_LEVERAGES:
            for side in ("buy", "sell"):
                for asset, (bid, decimals, qty) in ASSETS.items():
                    up, down = scaled_text(bid * 3 // 2, decimals), scaled_text(bid // 2, decimals)
                    profit, stop = (up, down) if side == "buy" else (down, up)
                    template: dict[str, Any] = {
                        "asset": asset,
                        "side": side,
                        "qty": qty,
                        "leverage": leverage,
                    }
                    if mix in (1, 3):
                        template["takeProfit"] = profit
                    if mix in (2, 3):
                        template["stopLoss"] = stop
                    templates.append(template)
    return templates


FILL_TEMPLATES = fill_templates()


async def publish_fill_batch(stack: Stack, count: int) -> str:
    """Publish ``count`` create-orders at once through the filler's bus (the publishes of
    one event-loop turn travel to Redis in one script call); return the last entry id."""
    tracker, users = stack.tracker, stack.fill_users
    orders: list[tuple[str, dict[str, Any]]] = []
    for _ in range(count):
        number = stack.fill_orders
        stack.fill_orders += 1
        order_id = new_id()
        template = FILL_TEMPLATES[number % len(FILL_TEMPLATES)]
        payload = {"userId": users[number % len(users)], **template}
        if stack.kept_order is None:
            stack.kept_order = (order_id, payload)
        tracker.fill_pending.add(order_id)  # before publishing: the reply may come first
        orders.append((order_id, payload))
    entries = await asyncio.gather(
        *(stack.filler.publish("create-order", payload, order_id) for order_id, payload in orders)
    )
    return entries[-1].entry_id


async def fill(stack: Stack, target: int) -> str | None:
    """Open positions until ``target`` are open; return the last entry id published."""
    to_open = target - stack.open_positions
    if to_open <= 0:
        return None
    options, tracker = stack.options, stack.tracker
    say(f"filling: {to_open:,} create-orders to reach {target:,} open positions")
    tracker.fill_statuses.clear()
    started = time.perf_counter()
    meter = stack.meter()
    commands = await redis_commands(stack.redis)
    published = 0
    last_entry_id = ""
    next_report = time.monotonic() + PROGRESS_EVERY_S

    def report() -> None:
        nonlocal next_report
        if time.monotonic() < next_report:
            return
        next_report = time.monotonic() + PROGRESS_EVERY_S
        answered = published - len(tracker.fill_pending)
        rate = answered / (time.perf_counter() - started)
        say(
            f"  {stack.open_positions + answered:,} open ({answered:,}/{to_open:,} answered, "
            f"{rate:,.0f}/s), engine RSS {stack.engine.rss_mb():,.0f} MB, "
            f"CPU {cpu_text(meter.percent())}, load {load_average()}"
        )

    while published < to_open:
        await wait_for(
            stack, lambda: len(tracker.fill_pending) <= options.window, "filling", report
        )
        count = min(options.batch, to_open - published)
        last_entry_id = await publish_fill_batch(stack, count)
        published += count
        report()
    await wait_for(stack, lambda: not tracker.fill_pending, "waiting for created", report)
    elapsed = time.perf_counter() - started
    statuses = dict(tracker.fill_statuses)
    created = statuses.pop("created", 0)
    stack.open_positions += created
    if statuses:
        raise RuntimeError(f"fill orders were refused: {statuses}")
    rate = round(to_open / elapsed, 1)
    redis_use = command_use(commands, await redis_commands(stack.redis), to_open)
    say(f"  filled: {stack.open_positions:,} open; {to_open:,} orders in {elapsed:.1f}s "
        f"({rate:,.0f}/s); CPU {cpu_text(meter.percent())}; {command_text(redis_use)}")  # fmt: skip
    stack.results[f"fill_per_s_to_{target}"] = rate
    stack.results[f"redis_fill_to_{target}"] = redis_use
    return last_entry_id
