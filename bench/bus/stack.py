"""What the phases share: the engine, the bus clients, the market, the counters."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import psutil
from redis.asyncio import Redis

from _common import CpuMeter, Processes, percentile
from bus.engine import EngineProcess
from bus.options import ASSETS, STALL_S, Options
from tradepro.bus.base import entry_order
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester, new_request_id


def scaled_text(ticks: int, decimals: int) -> str:
    """An integer of ``10**-decimals`` units as a decimal string (``1234, 2 -> "12.34"``)."""
    if decimals == 0:
        return str(ticks)
    digits = str(ticks).rjust(decimals + 1, "0")
    return f"{digits[:-decimals]}.{digits[-decimals:]}"


def percentile_ms(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ``samples`` (seconds), in milliseconds."""
    return round(percentile(samples, fraction) * 1000, 3)


def new_id() -> str:
    """A fresh id: time-ordered (version 7), as the engine requires of order ids."""
    return new_request_id()


@dataclass
class Tracker:
    """A requester subscriber: fill orders still unanswered, and ticks awaited."""

    fill_pending: set[str] = field(default_factory=set)
    fill_statuses: Counter[str] = field(default_factory=Counter)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    tick_waiters: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    tick_closes: Counter[str] = field(default_factory=Counter)

    def __call__(self, body: dict[str, Any]) -> None:
        request_id = body.get("id")
        if not isinstance(request_id, str):
            return
        if request_id in self.fill_pending:
            self.fill_pending.discard(request_id)
            self.fill_statuses[str(body.get("status"))] += 1
            self.progress.set()
            return
        waiter = self.tick_waiters.get(request_id)
        if waiter is not None and body.get("status") == "closed":
            self.tick_closes[request_id] += 1
            if not waiter.done():
                waiter.set_result(time.perf_counter())


# -- the benchmark ---------------------------------------------------------------------


@dataclass
class Stack:
    """What the phases share: the engine, the bus clients, the market, the counters."""

    options: Options
    engine: EngineProcess
    bus: RedisBus
    """The requester's bus: round trips, ticks, prices."""
    filler: RedisBus
    """A bus of its own (own connections) for the fill's batches of create-orders."""
    requester: Requester
    redis: Redis
    """A plain client for Redis's own counters (``INFO``)."""
    database_url: str
    redis_process: psutil.Process | None
    tracker: Tracker = field(default_factory=Tracker)
    quotes: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {asset: (bid, bid + 1) for asset, (bid, _, _) in ASSETS.items()}
    )
    price_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    open_positions: int = 0
    fill_users: list[str] = field(default_factory=list)
    fill_orders: int = 0
    kept_order: tuple[str, dict[str, Any]] | None = None
    """One order (id, payload) that stays open, re-sent after the restart: still open?"""
    results: dict[str, Any] = field(default_factory=dict)
    standby: EngineProcess | None = None
    """``--failover``: the second engine that takes over when the first is killed."""
    shard_engines: list[EngineProcess] = field(default_factory=list)
    """``--shards N``: the engines of shards 1 to N - 1 (``engine`` is shard 0's)."""

    def meter(self) -> CpuMeter:
        bench = psutil.Process()
        engines = [e.psutil_process() for e in (self.engine, *self.shard_engines)]
        group = [engine for engine in engines if engine is not None]
        each: dict[str, Processes] = {}
        if len(engines) > 1:  # and each shard's engine apart: which one is the bottleneck
            each = {f"engine{k}": e for k, e in enumerate(engines)}
        processes: dict[str, Processes] = {"engine": group or None}
        # PostgreSQL (shared with whatever else runs here): the engines' writes land there.
        postgres = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
        tail = {"bench": bench, "redis": self.redis_process, "postgres": postgres or None}
        return CpuMeter(processes | each | tail)

    # -- prices --

    def price_payload(self, asset: str) -> dict[str, str]:
        bid, ask = self.quotes[asset]
        decimals = ASSETS[asset][1]
        return {
            "asset": asset,
            "bid": scaled_text(bid, decimals),
            "ask": scaled_text(ask, decimals),
        }

    async def publish_prices(self) -> None:
        for asset in ASSETS:
            await self.bus.publish("price-update", self.price_payload(asset), new_id())

    async def refresh_prices(self) -> None:
        """Re-quote every asset every ``refresh_s``, so orders never see a stale price."""
        while True:
            await asyncio.sleep(self.options.refresh_s)
            async with self.price_lock:
                await self.publish_prices()

    # -- requests --

    async def request(self, kind: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return await self.requester.send_request_and_wait(kind, payload, **kwargs)

    async def register(self, users: Sequence[str]) -> None:
        for start in range(0, len(users), 200):
            chunk = users[start : start + 200]
            replies = await asyncio.gather(
                *(self.request("register-user", {"userId": user}) for user in chunk)
            )
            bad = [reply for reply in replies if reply.get("status") != "registered"]
            if bad:
                raise RuntimeError(f"register-user failed: {bad[0]}")


def rt_payload(user: str) -> dict[str, Any]:
    return {"userId": user, "asset": "BTC_USDC", "side": "buy", "qty": "0.00001", "leverage": 1}


async def wait_for(
    stack: Stack, done: Callable[[], bool], what: str, report: Callable[[], None]
) -> None:
    """Wait until ``done()``, calling ``report`` on the way (it decides whether to print);
    fail if the engine dies or nothing happens for ``STALL_S``."""
    tracker = stack.tracker
    last_change = time.monotonic()
    while not done():
        tracker.progress.clear()
        try:
            await asyncio.wait_for(tracker.progress.wait(), 1.0)
            last_change = time.monotonic()
        except TimeoutError:
            stack.engine.check_alive()
            if time.monotonic() - last_change > STALL_S:
                raise RuntimeError(f"no progress for {STALL_S:g}s while {what}") from None
        report()


async def wait_for_snapshot(stack: Stack, entry_id: str, timeout_s: float) -> float:
    """Poll ``engine_state`` until the saved snapshot covers ``entry_id``; seconds waited."""
    target = entry_order(entry_id)
    started = time.perf_counter()
    connection = await asyncpg.connect(stack.database_url)
    try:
        while True:
            saved = await connection.fetchval(
                "SELECT last_entry_id FROM engine_state WHERE shard = 0"
            )
            if isinstance(saved, str) and entry_order(saved) >= target:
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout_s:
                raise RuntimeError(f"no snapshot covering {entry_id} within {timeout_s:g}s")
            stack.engine.check_alive()
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


async def count_saved_positions(stack: Stack) -> int:
    connection = await asyncpg.connect(stack.database_url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM open_positions"))
    finally:
        await connection.close()
