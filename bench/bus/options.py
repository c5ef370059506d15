"""The options of the bus benchmark and the constants its phases share."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
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
FAILOVER_TARGETS: dict[str, tuple[str, float]] = {"failover_s": ("<=", 3)}
FAILOVER_REQUIRED_LAST = ("failover_s",)
"""``--failover`` measures only the takeover by a standby: these replace the above."""
SHARDS_TARGETS: dict[str, tuple[str, float]] = {"rt_per_s_c64": (">=", 5000)}
SHARDS_REQUIRED_LAST = ("shards", "rt_per_s_c64", "rt_p99_ms_c64", "cpu_ms_per_rt")
"""``--shards N`` measures only round trips over N engine shards."""
REQUIRED_LAST = (
    "rt_per_s_c64",
    "rt_p50_ms_c64",
    "rt_p99_ms_c64",
    "rt_p50_ms_c1",
    "tick_to_close_p99_ms",
    "restart_s_1m",
)


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
    failover: bool = False
    failover_clients: int = 16
    failover_load_s: float = 3.0
    shards: int | None = None


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
    parser.add_argument("--batch", type=int, default=1000, help="create-orders published at once")
    parser.add_argument("--window", type=int, default=20_000, help="max unanswered orders")
    parser.add_argument("--refresh-s", type=float, default=2.0, help="price refresh period")
    parser.add_argument(
        "--max-connections", type=int, default=32, help="the requester's Redis pool size"
    )
    parser.add_argument("--snapshot-interval-s", type=float, default=None)
    parser.add_argument("--engine-profile", metavar="PREFIX", default=None)
    parser.add_argument("--profile-restart-only", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small numbers: a smoke run")
    parser.add_argument(
        "--failover",
        action="store_true",
        help="only failover_s: a standby engine, then SIGKILL of the primary under load",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=None,
        metavar="N",
        help="only round trips, with N engine shards (ENGINE_SHARDS=N): rt_per_s_c64, "
        "rt_p99_ms_c64 and cpu_ms_per_rt (bench/bus/shards.py)",
    )
    parser.add_argument("--failover-clients", type=int, default=16)
    parser.add_argument("--failover-load-s", type=float, default=3.0)
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
        failover=args.failover,
        failover_clients=args.failover_clients,
        failover_load_s=args.failover_load_s,
        shards=args.shards,
    )
    if options.shards is not None and not 1 <= options.shards <= 64:
        parser.error("--shards must be 1 to 64")
    if options.positions_restart < options.open_for_ticks:
        parser.error("--positions-restart must be at least --open-for-ticks")
    return options
