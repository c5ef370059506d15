"""Benchmark of the engine *service* through the real bus: Redis Streams and PostgreSQL.

Unlike ``bench/engine_core.py`` (the pure engine in this process), this runs
``python -m tradepro.cli engine`` as a child process, exactly as it is deployed, against
the Redis at ``--redis-url`` and a fresh PostgreSQL database that it creates (``CREATE
DATABASE`` on the ``--postgres-url`` admin database) and drops at the end. The engine gets
a bus namespace of its own (``TRADEPRO_BUS_NAMESPACE=bench-<hex>:``, whose keys are
deleted at the end), ``STARTING_BALANCE`` of $1,000,000,000.00 so no order is ever refused
for money, and ``LOG_LEVEL=WARNING``. The engine, the database and the keys are cleaned up
on success, on error, on Ctrl-C and on SIGTERM.

What is measured, in one run:

1. ``rt_*``: create-order round trips through ``Requester.send_request_and_wait`` (the
   API's ``sendRequestAndWait``), one ``RedisBus`` with the library's defaults. Users are
   registered first; a price-update for every asset is published at the start and
   refreshed every ``--refresh-s`` seconds, so no order is ever ``stale_price``. After a
   ``--warmup-s`` warm-up at concurrency 64, concurrency 1 and then 64 each run for
   ``--duration-s``: N coroutines, each with a user of its own, loop
   ``send_request_and_wait("create-order", ...)`` (a market buy of 0.00001 BTC at
   leverage 1, no take-profit/stop-loss, so it stays open and costs $1 of margin). Each
   latency is ``perf_counter`` around one call; the rate is completed calls / wall time.
   Every reply must be ``created``.
2. ``tick_to_close_*``: the engine is grown to ``--open-for-ticks`` open positions (the
   round trips' ones included) with take-profits and stop-losses 50 % away and leverage
   1..10 on the three default assets, published in pipelined batches of ``--batch``
   XADDs (the fields ``RedisBus.publish`` writes) with at most ``--window`` orders
   unanswered, and every ``created`` callback is awaited. Then, once the periodic
   snapshot that covers every open position (the fill's, or the round trips') has
   committed (polled in ``engine_state``; a save of 100,000 fresh rows running beside the
   engine's loop is a separate cost, reported by the round-trip, fill and restart
   figures), each of ``--tick-samples`` samples (after 10 unrecorded
   ones) opens one BTC buy through a round trip with a take-profit one tick above its
   open price (the ask), then publishes a price-update whose bid equals that
   take-profit with ``RedisBus.publish``. The latency runs from just before that XADD
   to the moment the requester's reader hands the ``closed`` callback carrying the
   tick's id to a subscriber. Every tick must close exactly one position.
3. ``restart_s_1m``: the engine is grown to ``--positions-restart`` open positions the
   same way (progress printed every 5 s), its RSS is read (``engine_rss_mb``), it gets
   SIGTERM and the time until it exits (code 0 required) after its final snapshot is
   ``final_snapshot_s`` (the periodic snapshots have written most positions by then;
   ``final_snapshot_rows`` says how many the final one added). The row count of
   ``open_positions`` must then equal the open count. The engine is started again and
   ``restart_s_1m`` runs from just before the process is spawned until the answer to a
   register-user request, published right after the spawn, has arrived. That second
   engine logs at INFO (a few lines at start and stop, none per request) so that the
   time is split into ``restart_boot_s`` (interpreter, imports, migrations check) and
   ``restart_restore_s`` (snapshot load and rebuild). Then a create-order reusing the id
   of an order opened before the restart must be answered ``duplicate_request``: the
   positions really came back.

Each phase also prints, for the engine, this process and Redis, the CPU time used and
the time spent runnable but waiting for a CPU (percent of one core; Linux schedstat),
and the machine's CPU pressure (PSI): this machine has 2 cores, which the benchmark
client, the engine and Redis share with any other jobs on it (the load average is
printed at the start and the end). Redis's own command counters give the engine's mean
callback batch (XADDs per MULTI/EXEC) and the time Redis spent in XTRIM.
``--engine-profile PREFIX`` runs each engine start under cProfile timed by CPU time (not
wall time, which would charge waits for a CPU to whatever was running), writing
``PREFIX.<start number>.prof`` when it exits; with ``--profile-restart-only`` only the
restarted engine is profiled (its ``restart_s_1m`` then includes the profiler's cost).

Human-readable progress goes to stdout; the last line is a JSON object whose last keys
are ``rt_per_s_c64, rt_p50_ms_c64, rt_p99_ms_c64, rt_p50_ms_c1, tick_to_close_p99_ms,
restart_s_1m``. Usage (from the repository root)::

    .venv/bin/python bench/bus_roundtrip.py --quick      # smoke run, under a minute
    .venv/bin/python bench/bus_roundtrip.py              # full run, 4-5 minutes here
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
import psutil
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from _common import CpuMeter, cpu_text
from tradepro.bus.base import entry_order
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester, new_request_id

REPO = Path(__file__).resolve().parent.parent
STARTING_BALANCE = "1000000000.00"
"""$1 billion per user: a million $1 positions never run out of margin."""

ASSETS: dict[str, tuple[int, int, str]] = {
    "BTC_USDC": (1_000_000, 1, "0.00001"),
    "ETH_USDC": (350_000, 2, "0.0001"),
    "SOL_USDC": (15_000, 2, "0.01"),
}
"""asset -> (starting bid in ticks, price decimals, order qty): $100,000.0, $3,500.00 and
$150.00; each order's notional is about $1, $0.35 and $1.50."""
TICK_ASSET = "BTC_USDC"
FILL_LEVERAGES = (1, 2, 5, 10)
"""Liquidation is at least 9.5 % away at 10x: far from where the ticks move the price."""
WARMUP_TICK_SAMPLES = 10
PROGRESS_EVERY_S = 5.0
STALL_S = 60.0
"""A fill or a wait that sees no progress for this long fails the run."""

TARGETS: dict[str, tuple[str, float]] = {
    "rt_per_s_c64": (">=", 5000),
    "rt_p99_ms_c64": ("<=", 10),
    "tick_to_close_p99_ms": ("<=", 2),
    "restart_s_1m": ("<=", 10),
}
REQUIRED_LAST = (
    "rt_per_s_c64",
    "rt_p50_ms_c64",
    "rt_p99_ms_c64",
    "rt_p50_ms_c1",
    "tick_to_close_p99_ms",
    "restart_s_1m",
)

_T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", flush=True)


def load_average() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def scaled_text(ticks: int, decimals: int) -> str:
    """An integer of ``10**-decimals`` units as a decimal string (``1234, 2 -> "12.34"``)."""
    if decimals == 0:
        return str(ticks)
    digits = str(ticks).rjust(decimals + 1, "0")
    return f"{digits[:-decimals]}.{digits[-decimals:]}"


def percentile_ms(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ``samples`` (seconds), in milliseconds."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return round(ordered[rank - 1] * 1000, 3)


def new_id() -> str:
    """A fresh id: time-ordered (version 7), as the engine requires of order ids."""
    return new_request_id()


# -- options ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    redis_url: str
    postgres_url: str
    positions_restart: int
    open_for_ticks: int
    duration_s: float
    warmup_s: float
    tick_samples: int
    fill_users: int
    batch: int
    window: int
    refresh_s: float
    max_connections: int
    snapshot_interval_s: float | None
    engine_profile: str | None
    profile_restart_only: bool


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Round trips, tick-to-close latency and restart time of the engine "
        "service on real Redis and PostgreSQL.",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin database used to create and drop the benchmark's own database",
    )
    parser.add_argument("--positions-restart", type=int, default=None, help="default 1000000")
    parser.add_argument("--open-for-ticks", type=int, default=None, help="default 100000")
    parser.add_argument("--duration-s", type=float, default=None, help="per level; default 10")
    parser.add_argument("--warmup-s", type=float, default=None, help="default 3")
    parser.add_argument("--tick-samples", type=int, default=None, help="default 200")
    parser.add_argument("--fill-users", type=int, default=None, help="default 1000")
    parser.add_argument("--batch", type=int, default=1000, help="XADDs per pipeline")
    parser.add_argument("--window", type=int, default=20_000, help="max unanswered orders")
    parser.add_argument("--refresh-s", type=float, default=2.0, help="price refresh period")
    parser.add_argument(
        "--max-connections", type=int, default=32, help="the requester's Redis pool size"
    )
    parser.add_argument("--snapshot-interval-s", type=float, default=None)
    parser.add_argument("--engine-profile", metavar="PREFIX", default=None)
    parser.add_argument("--profile-restart-only", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small numbers: a smoke run")
    args = parser.parse_args(argv)
    quick: bool = args.quick

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    options = Options(
        redis_url=args.redis_url,
        postgres_url=args.postgres_url,
        positions_restart=pick(args.positions_restart, 1_000_000, 20_000),
        open_for_ticks=pick(args.open_for_ticks, 100_000, 5_000),
        duration_s=pick(args.duration_s, 10.0, 2.0),
        warmup_s=pick(args.warmup_s, 3.0, 0.5),
        tick_samples=pick(args.tick_samples, 200, 50),
        fill_users=pick(args.fill_users, 1000, 100),
        batch=args.batch,
        window=args.window,
        refresh_s=args.refresh_s,
        max_connections=args.max_connections,
        snapshot_interval_s=args.snapshot_interval_s,
        engine_profile=args.engine_profile,
        profile_restart_only=args.profile_restart_only,
    )
    if options.positions_restart < options.open_for_ticks:
        parser.error("--positions-restart must be at least --open-for-ticks")
    return options


# -- the engine process ----------------------------------------------------------------

CPU_PROFILED_ENGINE = """
import cProfile, sys, time
from tradepro.cli import main
profiler = cProfile.Profile(time.process_time)
try:
    code = profiler.runcall(main, ["engine"])
finally:
    profiler.dump_stats(sys.argv[1])
sys.exit(code)
"""
"""``tradepro engine`` under cProfile with a CPU-time clock: on a shared machine a wall
clock would charge the time spent waiting for a CPU to whatever function was running."""


class EngineProcess:
    """``python -m tradepro.cli engine`` as a child process, its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path, profile_prefix: str | None) -> None:
        self.env = env
        self.log_path = log_path
        self.profile_prefix = profile_prefix
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, log_level: str = "WARNING", *, profile: bool = True) -> None:
        self.starts += 1
        command = [sys.executable]
        if self.profile_prefix and profile:
            command += ["-c", CPU_PROFILED_ENGINE, f"{self.profile_prefix}.{self.starts}.prof"]
        else:
            command += ["-m", "tradepro.cli", "engine"]
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command,
                env={**self.env, "LOG_LEVEL": log_level},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def check_alive(self) -> None:
        if self.process is None or self.process.returncode is not None:
            code = None if self.process is None else self.process.returncode
            raise RuntimeError(f"the engine is not running (exit code {code})")

    def psutil_process(self) -> psutil.Process | None:
        try:
            return psutil.Process(self.pid)
        except (psutil.Error, AssertionError):
            return None

    def rss_mb(self) -> float:
        process = self.psutil_process()
        return round(process.memory_info().rss / 2**20, 1) if process else math.nan

    async def terminate(self, timeout_s: float) -> int:
        """SIGTERM (the engine writes its final snapshot) and wait for the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout_s)
        self.process = None
        return code

    async def stop(self) -> None:
        """Make sure the process is gone: SIGTERM, then SIGKILL after a grace period."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_times(self, since_wall_s: float) -> dict[str, float]:
        """Wall times (epoch seconds) of the INFO start-up lines logged after ``since``."""
        found: dict[str, float] = {}
        for line in self.log_path.read_text(errors="replace").splitlines():
            for marker in ("engine starting", "engine restored"):
                if marker in line and marker not in found:
                    with contextlib.suppress(ValueError):
                        stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                        if stamp >= since_wall_s - 0.002:
                            found[marker] = stamp
        return found


REDIS_COMMANDS = ("xadd", "xread", "exec", "xtrim")


async def redis_commands(redis: Redis) -> dict[str, tuple[int, int]]:
    """Redis's own counters: command -> (calls, server-side microseconds) since start."""
    info: dict[str, Any] = await redis.info("commandstats")
    counters: dict[str, tuple[int, int]] = {}
    for name in REDIS_COMMANDS:
        stats = info.get(f"cmdstat_{name}") or {}
        counters[name] = (int(stats.get("calls", 0)), int(stats.get("usec", 0)))
    return counters


def command_use(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], published: int
) -> dict[str, float]:
    """Per-phase Redis command counts and server time; ``callbacks_per_exec`` is the
    engine's mean batch (XADDs that were not this benchmark's ``published`` requests,
    per MULTI/EXEC). The Redis server is shared: other clients' commands count too."""
    use: dict[str, float] = {}
    for name in REDIS_COMMANDS:
        use[name] = after[name][0] - before[name][0]
        use[name + "_ms"] = round((after[name][1] - before[name][1]) / 1000, 1)
    use["callbacks_per_exec"] = round((use["xadd"] - published) / max(1, use["exec"]), 1)
    return use


def command_text(use: dict[str, float]) -> str:
    return (
        f"Redis: {use['exec']:,.0f} callback batches of {use['callbacks_per_exec']:g}, "
        f"{use['xread']:,.0f} XREAD, {use['xtrim']:,.0f} XTRIM taking {use['xtrim_ms']:g} ms"
    )


# -- callbacks this benchmark waits for ------------------------------------------------


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
    requester: Requester
    redis: Redis
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

    def meter(self) -> CpuMeter:
        bench = psutil.Process()
        engine = self.engine.psutil_process()
        return CpuMeter({"engine": engine, "bench": bench, "redis": self.redis_process})

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


async def round_trips(stack: Stack, concurrency: int, duration_s: float) -> dict[str, Any]:
    """``concurrency`` coroutines loop create-order round trips for ``duration_s``."""
    users = [new_id() for _ in range(concurrency)]
    await stack.register(users)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    deadline = time.perf_counter() + duration_s

    async def loop(user: str) -> None:
        payload = rt_payload(user)
        while time.perf_counter() < deadline:
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


# -- filling the engine ----------------------------------------------------------------


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
    """Publish ``count`` create-orders in one pipeline; return the last entry id."""
    tracker, users = stack.tracker, stack.fill_users
    stream = stack.bus.engine_stream
    async with stack.redis.pipeline(transaction=False) as pipe:
        for _ in range(count):
            number = stack.fill_orders
            stack.fill_orders += 1
            order_id = new_id()
            template = FILL_TEMPLATES[number % len(FILL_TEMPLATES)]
            payload = {"userId": users[number % len(users)], **template}
            if stack.kept_order is None:
                stack.kept_order = (order_id, payload)
            tracker.fill_pending.add(order_id)  # before the XADD: the reply may come first
            fields: dict[FieldT, EncodableT] = {
                "id": order_id,
                "kind": "create-order",
                "payload": orjson.dumps(payload),
            }
            pipe.xadd(stream, fields)
        entry_ids: list[bytes] = await pipe.execute()
    return entry_ids[-1].decode()


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


# -- tick to close ---------------------------------------------------------------------


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


# -- restart ---------------------------------------------------------------------------


async def measure_restart(stack: Stack) -> None:
    results, engine = stack.results, stack.engine
    rss = engine.rss_mb()
    results["engine_rss_mb"] = rss
    saved_before = await count_saved_positions(stack)
    say(f"SIGTERM with {stack.open_positions:,} open positions (engine RSS {rss:,.0f} MB, "
        f"{saved_before:,} already in the database)")  # fmt: skip
    started = time.perf_counter()
    code = await engine.terminate(timeout_s=300)
    final_s = round(time.perf_counter() - started, 3)
    if code != 0:
        raise RuntimeError(f"the engine exited with {code} after SIGTERM:\n{engine.log_tail()}")
    saved = await count_saved_positions(stack)
    say(f"  exited 0 after {final_s}s; the final snapshot added {saved - saved_before:,} rows")
    if saved != stack.open_positions:
        raise RuntimeError(f"{saved:,} positions saved, {stack.open_positions:,} open")
    results["final_snapshot_s"] = final_s
    results["final_snapshot_rows"] = saved - saved_before

    wall_start = time.time()
    started = time.perf_counter()
    await engine.start(log_level="INFO")
    reply = await stack.request("register-user", {"userId": new_id()}, timeout_s=600)
    restart_s = round(time.perf_counter() - started, 3)
    if reply.get("status") != "registered":
        raise RuntimeError(f"register-user after the restart: {reply}")
    marks = engine.log_times(wall_start)
    boot = marks.get("engine starting")
    restored = marks.get("engine restored")
    if boot is not None and restored is not None:
        results["restart_boot_s"] = round(boot - wall_start, 3)
        results["restart_restore_s"] = round(restored - boot, 3)
    results["engine_rss_mb_restarted"] = engine.rss_mb()
    say(f"  restarted: answered after {restart_s}s (boot {results.get('restart_boot_s')}s, "
        f"load+restore {results.get('restart_restore_s')}s), "
        f"RSS {results['engine_rss_mb_restarted']:,.0f} MB")  # fmt: skip

    assert stack.kept_order is not None
    order_id, payload = stack.kept_order
    check = await stack.request("create-order", payload, request_id=order_id)
    if check.get("status") != "duplicate_request":
        raise RuntimeError(f"an order open before the restart is not open after it: {check}")
    results["restart_s_1m"] = restart_s


# -- set-up and clean-up ---------------------------------------------------------------


async def admin(options: Options, statement: str) -> None:
    connection = await asyncpg.connect(options.postgres_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def redis_process(redis: Redis) -> psutil.Process | None:
    with contextlib.suppress(Exception):
        info = await redis.info("server")
        return psutil.Process(int(info["process_id"]))
    return None


async def start_engine(stack: Stack) -> None:
    say("starting the engine (empty database: migrations first)")
    started = time.perf_counter()
    await stack.engine.start(profile=not stack.options.profile_restart_only)
    reply = await stack.request("register-user", {"userId": new_id()}, timeout_s=120)
    if reply.get("status") != "registered":
        raise RuntimeError(f"first request: {reply}")
    stack.results["engine_cold_start_s"] = round(time.perf_counter() - started, 3)
    say(f"  engine up after {stack.results['engine_cold_start_s']}s (pid {stack.engine.pid})")


async def run_phases(stack: Stack) -> None:
    options = stack.options
    await start_engine(stack)
    stack.fill_users = [new_id() for _ in range(options.fill_users)]
    await stack.register(stack.fill_users)
    async with stack.price_lock:
        await stack.publish_prices()
    refresher = asyncio.create_task(stack.refresh_prices(), name="price-refresher")
    try:
        await measure_round_trips(stack)
        last_entry = await fill(stack, options.open_for_ticks)
        if last_entry is None:  # the round trips opened enough: their orders, then
            last_entry = await stack.bus.last_entry_id()
        say("waiting for the snapshot that covers every open position to commit")
        waited = await wait_for_snapshot(stack, last_entry, timeout_s=300)
        say(f"  committed {waited:.1f}s after the last order")
        await measure_ticks(stack)
        await fill(stack, options.positions_restart)
        await measure_restart(stack)
    finally:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher


async def clean_up(options: Options, stack: Stack | None, database: str, namespace: str) -> None:
    """Each step on its own: one failing never skips the others."""
    # After a cancellation (Ctrl-C, SIGTERM) the cancelled requests unwind first, so that
    # stopping the requester leaves no orphaned failed futures behind.
    await asyncio.sleep(0.05)
    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    if stack is not None:
        steps += [
            ("requester", stack.requester.stop),
            ("engine", stack.engine.stop),
            ("bus", stack.bus.close),
        ]
    redis = Redis.from_url(options.redis_url)

    async def delete_keys() -> None:
        keys = [key async for key in redis.scan_iter(match=f"{namespace}*", count=1000)]
        if keys:
            await redis.delete(*keys)

    steps += [
        ("redis keys", delete_keys),
        ("redis", redis.aclose),
        ("database", lambda: admin(options, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')),
    ]
    if stack is not None:
        steps.append(("redis client", stack.redis.aclose))
    for name, step in steps:
        try:
            await asyncio.wait_for(step(), 30)
        except Exception as error:  # noqa: BLE001 - report and carry on cleaning
            say(f"clean-up of {name} failed: {error!r}")


async def run(options: Options) -> dict[str, Any]:
    token = uuid.uuid4().hex[:12]
    database, namespace = f"tradepro_bench_{token}", f"bench-{token}:"
    database_url = urlunsplit(urlsplit(options.postgres_url)._replace(path=f"/{database}"))
    results: dict[str, Any] = {"loadavg_start": load_average()}
    say(f"load average {results['loadavg_start']} on {os.cpu_count()} CPUs; options {options}")
    stack: Stack | None = None
    with tempfile.TemporaryDirectory(prefix="tradepro-bench-") as scratch:
        try:
            await admin(options, f'CREATE DATABASE "{database}"')
            say(f"database {database}, bus namespace {namespace!r}")
            env = {
                **os.environ,
                "REDIS_URL": options.redis_url,
                "DATABASE_URL": database_url,
                "TRADEPRO_BUS_NAMESPACE": namespace,
                "TRADEPRO_DATA_DIR": str(Path(scratch) / "data"),
                "STARTING_BALANCE": STARTING_BALANCE,
                "PYTHONUNBUFFERED": "1",
            }
            if options.snapshot_interval_s is not None:
                env["SNAPSHOT_INTERVAL_S"] = str(options.snapshot_interval_s)
            bus = RedisBus(
                options.redis_url,
                namespace=namespace,
                max_connections=options.max_connections,
                client_name="bench-requester",
            )
            redis = Redis.from_url(options.redis_url, client_name="bench-filler")
            stack = Stack(
                options=options,
                engine=EngineProcess(env, Path(scratch) / "engine.log", options.engine_profile),
                bus=bus,
                requester=Requester(bus),
                redis=redis,
                database_url=database_url,
                redis_process=await redis_process(redis),
                results=results,
            )
            stack.requester.subscribe(stack.tracker)
            await stack.requester.start()
            await run_phases(stack)
        except Exception:
            if stack is not None:
                say(f"failed; engine log tail:\n{stack.engine.log_tail()}")
            raise
        finally:
            await clean_up(options, stack, database, namespace)
    results["loadavg_end"] = load_average()
    return results


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The JSON line: extra keys first, the required ones last, then the verdicts."""
    missed = [
        name
        for name, (sense, limit) in TARGETS.items()
        if not (results[name] >= limit if sense == ">=" else results[name] <= limit)
    ]
    extra = {k: v for k, v in results.items() if k not in REQUIRED_LAST}
    extra["targets_missed"] = missed
    return extra | {name: results[name] for name in REQUIRED_LAST}


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)

    async def guarded() -> dict[str, Any]:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run(options)

    try:
        results = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; cleaned up")
        return 130
    line = summary(results)
    for name, (sense, limit) in TARGETS.items():
        verdict = "MISSED" if name in line["targets_missed"] else "ok"
        say(f"{name} = {line[name]} (target {sense} {limit:g}): {verdict}")
    say(f"load average at the end {results['loadavg_end']}")
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
