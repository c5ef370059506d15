"""``--shards N``: create-order round trips at concurrency 64 (and 1) over N engine shards.

The engine runs as N processes (``tradepro engine --shard K`` with ``ENGINE_SHARDS=N``)
on one Redis; the requester's bus is a ``ShardedBus`` (each user's request goes to their
shard, prices to every shard, replies read from every shard). Each of the 64 coroutines
has a user of its own, so the load spreads over the shards by the shard hash. Reported:
``rt_per_s_c64``, ``rt_p99_ms_c64`` (and ``_c1``), and ``cpu_ms_per_rt``: the CPU time of
the engines, this process (the API's part: publishing and reading replies) and Redis,
divided by the round trips completed (what one round trip costs the machine). Printed
too, to find the bottleneck: each engine's CPU apart and PostgreSQL's (shared with any
other work here), the round trips per database commit (``rt_per_commit_c64``: the
engines' writes of account events) and how many times each process was put on a CPU per
round trip (``slices_per_rt_c64``: its wake-ups, each a wait when the cores are busy).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import asyncpg

from _common import cpu_text, say
from bus.roundtrip import round_trips
from bus.stack import Stack, new_id


async def start_shards(stack: Stack) -> None:
    """Start the other shards' engines (shard 0's is ``stack.engine``) and wait until every
    shard answers a register-user of one of its own users."""
    for engine in stack.shard_engines:
        await engine.start(profile=False)
    for shard in range(stack.options.shards or 1):
        user = user_of_shard(shard, stack.options.shards or 1)
        reply = await stack.request("register-user", {"userId": user}, timeout_s=120)
        if reply.get("status") != "registered":
            raise RuntimeError(f"shard {shard}: {reply}")


def user_of_shard(shard: int, shards: int) -> str:
    from tradepro.bus.names import shard_of  # noqa: PLC0415

    while True:
        user = new_id()
        if shard_of(user, shards) == shard:
            return user


async def measure_shards(stack: Stack) -> None:
    options = stack.options
    shards = options.shards or 1
    stack.results["shards"] = shards
    say(f"warm-up: concurrency 64 for {options.warmup_s:g}s over {shards} shard(s)")
    await round_trips(stack, 64, options.warmup_s)
    for concurrency in (1, 64):
        say(f"round trips: concurrency {concurrency} for {options.duration_s:g}s")
        commits, slices = await database_commits(stack), cpu_slices(stack)
        level = await round_trips(stack, concurrency, options.duration_s)
        commits = await database_commits(stack) - commits
        per_rt = {
            name: round((count - slices[name]) / max(1, level["count"]), 2)
            for name, count in cpu_slices(stack).items()
        }
        cpu = level["cpu"]
        used_pct = sum(v for k, v in cpu.items() if k in ("engine", "bench", "redis"))
        cpu_ms = round(10 * used_pct / level["per_s"], 4) if level["per_s"] else None
        say(
            f"  c{concurrency}: {level['per_s']:,.0f} round trips/s, p50 {level['p50_ms']} ms, "
            f"p99 {level['p99_ms']} ms ({level['count']:,} calls); CPU {cpu_text(cpu)}; "
            f"{cpu_ms} ms of CPU per round trip; {commits:,} database transactions "
            f"({level['count'] / max(1, commits):.1f} round trips each); times on a CPU "
            f"per round trip {per_rt}"
        )
        suffix = f"_c{concurrency}"
        stack.results["rt_per_s" + suffix] = level["per_s"]
        stack.results["rt_p50_ms" + suffix] = level["p50_ms"]
        stack.results["rt_p99_ms" + suffix] = level["p99_ms"]
        stack.results["cpu_pct" + suffix] = cpu
        stack.results["rt_per_commit" + suffix] = round(level["count"] / max(1, commits), 1)
        stack.results["slices_per_rt" + suffix] = per_rt
        if concurrency == 64:
            stack.results["cpu_ms_per_rt"] = cpu_ms


async def database_commits(stack: Stack) -> int:
    """Transactions committed in the benchmark's own database so far (the engines' writes
    of account events and trades: each batch the engine writes is one or a few)."""
    connection = await asyncpg.connect(stack.database_url)
    try:
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        count = await connection.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    return int(count)


def cpu_slices(stack: Stack) -> dict[str, int]:
    """How many times each process's threads were put on a CPU so far (the third field of
    ``/proc/<pid>/task/*/schedstat``): each is a wake-up, and a wait in the run queue when
    the cores are busy. Engines (together), this process (the client), Redis."""
    engines = [e.psutil_process() for e in (stack.engine, *stack.shard_engines)]
    groups = {
        "engines": [e.pid for e in engines if e is not None],
        "bench": [os.getpid()],
        "redis": [stack.redis_process.pid] if stack.redis_process else [],
    }
    counts: dict[str, int] = {}
    for name, pids in groups.items():
        counts[name] = 0
        for pid in pids:
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    with contextlib.suppress(OSError, ValueError, IndexError):
                        counts[name] += int((task / "schedstat").read_text().split()[2])
    return counts
