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
   1..10 on the three default assets, published with ``RedisBus.publish`` (a bus of its
   own, the filler's) in batches of ``--batch`` that travel as one script call, with at
   most ``--window`` orders unanswered, and every ``created`` callback is awaited. Then,
   once the periodic snapshot that covers every open position (the fill's, or the round trips') has
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
   ``restart_restore_s`` (snapshot load and rebuild); ``restart_engine_cpu_s`` is the
   restarted engine's CPU time until that answer (the database works beside it). Then a
   create-order reusing the id of an order opened before the restart must be answered
   ``duplicate_request``: the positions really came back.

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

The phases live in ``bench/bus/`` (``roundtrip``, ``fill``, ``ticks``, ``restart``);
this script sets up, runs them in order and cleans up. Human-readable progress goes to
stdout; the last line is a JSON object whose last keys are ``rt_per_s_c64,
rt_p50_ms_c64, rt_p99_ms_c64, rt_p50_ms_c1, tick_to_close_p99_ms, restart_s_1m``. Usage
(from the repository root)::

    .venv/bin/python bench/bus_roundtrip.py --quick      # smoke run, under a minute
    .venv/bin/python bench/bus_roundtrip.py              # full run, 4-5 minutes here
    .venv/bin/python bench/bus_roundtrip.py --failover   # failover_s only (bench/bus/failover.py)
    .venv/bin/python bench/bus_roundtrip.py --shards 2   # round trips over 2 engine shards

With ``--failover`` the run is different: the engine starts, then a standby engine, and
under a steady order load the first is killed; the JSON line ends with ``failover_s``
(target <= 3 s), the time from SIGKILL to the first request answered by the standby.
With ``--shards N`` only the round trips run, over N engine processes (``bench/bus/
shards.py``); the JSON line ends with ``shards, rt_per_s_c64, rt_p99_ms_c64,
cpu_ms_per_rt``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil
from redis.asyncio import Redis

from _common import load_average, say
from bus.engine import EngineProcess
from bus.failover import measure_failover
from bus.fill import fill
from bus.options import (
    FAILOVER_REQUIRED_LAST,
    FAILOVER_TARGETS,
    REQUIRED_LAST,
    SHARDS_REQUIRED_LAST,
    SHARDS_TARGETS,
    STARTING_BALANCE,
    TARGETS,
    Options,
    parse_options,
)
from bus.restart import measure_restart
from bus.roundtrip import measure_round_trips
from bus.shards import measure_shards, start_shards, user_of_shard
from bus.stack import Stack, new_id, wait_for_snapshot
from bus.ticks import measure_ticks
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester
from tradepro.bus.shards import ShardedBus

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
    # A user of shard 0: with --shards N the other shards' engines start later.
    user = user_of_shard(0, stack.options.shards or 1)
    reply = await stack.request("register-user", {"userId": user}, timeout_s=120)
    if reply.get("status") != "registered":
        raise RuntimeError(f"first request: {reply}")
    stack.results["engine_cold_start_s"] = round(time.perf_counter() - started, 3)
    say(f"  engine up after {stack.results['engine_cold_start_s']}s (pid {stack.engine.pid})")


async def run_phases(stack: Stack, scratch: Path) -> None:
    options = stack.options
    await start_engine(stack)
    if options.failover:
        async with stack.price_lock:
            await stack.publish_prices()
        await measure_failover(stack, scratch)
        return
    if options.shards is not None:
        await start_shards(stack)
        async with stack.price_lock:
            await stack.publish_prices()  # to every shard
        refresher = asyncio.create_task(stack.refresh_prices(), name="price-refresher")
        try:
            await measure_shards(stack)
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        return
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
            ("standby engine", lambda: stack.standby.stop() if stack.standby else asyncio.sleep(0)),
            *((f"shard engine {n}", e.stop) for n, e in enumerate(stack.shard_engines, start=1)),
            ("bus", stack.bus.close),
            ("filler bus", stack.filler.close),
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
            shards = options.shards or 1
            if shards > 1:
                env["ENGINE_SHARDS"] = str(shards)
            bus = sharded_bus(options, namespace, "bench-requester", options.max_connections)
            filler = sharded_bus(options, namespace, "bench-filler", 32)
            redis = Redis.from_url(options.redis_url, client_name="bench-stats")
            stack = Stack(
                options=options,
                engine=EngineProcess(
                    env | {"ENGINE_SHARD": "0"},
                    Path(scratch) / "engine.log",
                    options.engine_profile,
                ),
                shard_engines=[
                    EngineProcess(
                        env | {"ENGINE_SHARD": str(k)}, Path(scratch) / f"engine-{k}.log", None
                    )
                    for k in range(1, shards)
                ],
                bus=bus,
                filler=filler,
                requester=Requester(bus),
                redis=redis,
                database_url=database_url,
                redis_process=await redis_process(redis),
                results=results,
            )
            stack.requester.subscribe(stack.tracker, None)  # fills' replies and refusals too
            await stack.requester.start()
            await run_phases(stack, Path(scratch))
        except Exception:
            if stack is not None:
                say(f"failed; engine log tail:\n{stack.engine.log_tail()}")
            raise
        finally:
            await clean_up(options, stack, database, namespace)
    results["loadavg_end"] = load_average()
    return results


def sharded_bus(options: Options, namespace: str, name: str, connections: int) -> Any:
    """One ``RedisBus``, or with ``--shards N`` (N > 1) a ``ShardedBus`` over N of them."""
    shards = options.shards or 1
    buses = [
        RedisBus(options.redis_url, namespace=namespace, max_connections=connections,
                 client_name=name, shard=k, tagged=shards > 1)
        for k in range(shards)
    ]  # fmt: skip
    return buses[0] if shards == 1 else ShardedBus(buses)


def targets(options: Options) -> tuple[dict[str, tuple[str, float]], tuple[str, ...]]:
    if options.shards is not None:
        return SHARDS_TARGETS, SHARDS_REQUIRED_LAST
    if options.failover:
        return FAILOVER_TARGETS, FAILOVER_REQUIRED_LAST
    return TARGETS, REQUIRED_LAST


def summary(results: dict[str, Any], options: Options) -> dict[str, Any]:
    """The JSON line: extra keys first, the required ones last, then the verdicts."""
    goals, required = targets(options)
    missed = [
        name
        for name, (sense, limit) in goals.items()
        if not (results[name] >= limit if sense == ">=" else results[name] <= limit)
    ]
    extra = {k: v for k, v in results.items() if k not in required}
    extra["targets_missed"] = missed
    return extra | {name: results[name] for name in required}


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
    line = summary(results, options)
    for name, (sense, limit) in targets(options)[0].items():
        verdict = "MISSED" if name in line["targets_missed"] else "ok"
        say(f"{name} = {line[name]} (target {sense} {limit:g}): {verdict}")
    say(f"load average at the end {results['loadavg_end']}")
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
