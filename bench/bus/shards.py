"""``--shards N``: create-order round trips at concurrency 64 (and 1) over N engine shards.

The engine runs as N processes (``tradepro engine --shard K`` with ``ENGINE_SHARDS=N``)
on one Redis; the requester's bus is a ``ShardedBus`` (each user's request goes to their
shard, prices to every shard, replies read from every shard). Each of the 64 coroutines
has a user of its own, so the load spreads over the shards by the shard hash. Reported:
``rt_per_s_c64``, ``rt_p99_ms_c64`` (and ``_c1``), and ``cpu_ms_per_rt``: the CPU time of
the engines, this process (the API's part: publishing and reading replies) and Redis,
divided by the round trips completed (what one round trip costs the machine).
"""

from __future__ import annotations

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
        level = await round_trips(stack, concurrency, options.duration_s)
        cpu = level["cpu"]
        used_pct = sum(v for k, v in cpu.items() if k in ("engine", "bench", "redis"))
        cpu_ms = round(10 * used_pct / level["per_s"], 4) if level["per_s"] else None
        say(
            f"  c{concurrency}: {level['per_s']:,.0f} round trips/s, p50 {level['p50_ms']} ms, "
            f"p99 {level['p99_ms']} ms ({level['count']:,} calls); CPU {cpu_text(cpu)}; "
            f"{cpu_ms} ms of CPU per round trip"
        )
        suffix = f"_c{concurrency}"
        stack.results["rt_per_s" + suffix] = level["per_s"]
        stack.results["rt_p50_ms" + suffix] = level["p50_ms"]
        stack.results["rt_p99_ms" + suffix] = level["p99_ms"]
        stack.results["cpu_pct" + suffix] = cpu
        if concurrency == 64:
            stack.results["cpu_ms_per_rt"] = cpu_ms
