"""``failover_s``: a standby engine takes over from a primary killed under load.

A second engine process (the standby) is started beside the primary with the same Redis
and PostgreSQL; once its log says it follows the stream, ``--failover-clients``
coroutines create orders in a loop (each waiting at most ``REQUEST_TIMEOUT_S`` for its
reply, then trying again with a new order). After ``--failover-load-s`` the primary gets
SIGKILL. ``failover_s`` runs from that signal to the first reply to a request published
after it: only the standby can have answered that one. The load goes on for a moment
after, then every order acknowledged before or after the kill must be open in the new
primary (``failover_lost`` counts those that are not: it must be 0).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from _common import say
from bus.engine import EngineProcess
from bus.stack import Stack, new_id
from tradepro.bus.requests import RequestTimeoutError

REQUEST_TIMEOUT_S = 0.5
STANDBY_LINE = "standby for shard 0, following entry"
TOOK_OVER_LINE = "took over shard 0 at entry"
AFTER_S = 2.0
"""How long the load goes on once the standby has answered."""


async def measure_failover(stack: Stack, scratch: Path) -> None:
    options = stack.options
    standby = EngineProcess(stack.engine.env, scratch / "standby.log", None)
    await standby.start(log_level="INFO", profile=False)
    stack.standby = standby
    say("standby engine started; waiting until it follows the stream")
    deadline = time.monotonic() + 120
    while STANDBY_LINE not in standby.log_tail(200):
        standby.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the standby never followed:\n{standby.log_tail()}")
        await asyncio.sleep(0.05)

    users = [new_id() for _ in range(options.failover_clients)]
    await stack.register(users)
    acknowledged: list[str] = []
    killed_at: float | None = None
    first_after: float | None = None
    stop = asyncio.Event()

    async def client(user: str) -> None:
        nonlocal first_after
        while not stop.is_set():
            sent_at = time.perf_counter()
            payload: dict[str, Any] = {"userId": user, "asset": "BTC_USDC", "side": "buy",
                                       "qty": "0.00001", "leverage": 1}  # fmt: skip
            try:
                reply = await stack.request("create-order", payload, timeout_s=REQUEST_TIMEOUT_S)
            except RequestTimeoutError:
                continue
            if reply.get("status") != "created":
                raise RuntimeError(f"create-order: {reply}")
            acknowledged.append(reply["order"]["orderId"])
            if killed_at is not None and sent_at > killed_at and first_after is None:
                first_after = time.perf_counter()

    clients = [asyncio.create_task(client(user)) for user in users]
    try:
        await asyncio.sleep(options.failover_load_s)
        before = len(acknowledged)
        say(f"  {before} orders acknowledged by the primary; SIGKILL to pid {stack.engine.pid}")
        assert stack.engine.process is not None
        killed_at = time.perf_counter()
        stack.engine.process.kill()
        await stack.engine.process.wait()
        while first_after is None:
            if time.perf_counter() - killed_at > 60:
                raise RuntimeError(f"no reply 60 s after the kill:\n{standby.log_tail()}")
            standby.check_alive()
            await asyncio.sleep(0.01)
        await asyncio.sleep(AFTER_S)
    finally:
        stop.set()
        await asyncio.gather(*clients, return_exceptions=True)
    failover_s = round(first_after - killed_at, 3)
    stack.results["failover_s"] = failover_s
    took_over = [line for line in standby.log_tail(400).splitlines() if TOOK_OVER_LINE in line]
    say(f"  first reply by the standby {failover_s}s after the kill; {took_over[-1:]}")

    open_ids: set[str] = set()
    for user in users:
        after: str | None = None
        while True:
            payload = {"userId": user, "limit": 500} | ({"after": after} if after else {})
            account = await stack.request("get-account", payload, timeout_s=30)
            page = [order["orderId"] for order in account["orders"]]
            open_ids.update(page)
            if len(page) < 500:
                break
            after = page[-1]
    lost = len(set(acknowledged) - open_ids)
    stack.results["failover_orders"] = len(acknowledged)
    stack.results["failover_lost"] = lost
    say(f"  {len(acknowledged)} orders acknowledged in all, {lost} missing after the failover")
    if lost:
        raise RuntimeError(f"{lost} acknowledged orders lost in the failover")
