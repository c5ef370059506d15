"""``tradepro up``: its options; the command itself is ``tradepro.services.up``."""

from __future__ import annotations

import argparse

from tradepro.cli.arguments import (
    Commands,
    add_feed_options,
    feed_or_setting,
    positive_float,
    positive_int,
    settings_or_exit,
)


def add_up(commands: Commands) -> None:
    up = commands.add_parser(
        "up",
        help="run the whole platform: engine, api, ws and poller, with one banner",
        description="Migrate the database, then run the engine, api, ws and poller as child "
        "processes (embedded SQLite bus and database in TRADEPRO_DATA_DIR unless REDIS_URL / "
        "DATABASE_URL are set), their output prefixed with their names. A banner gives the "
        "URLs once healthy; a crashed service is restarted. Ctrl-C stops everything (the "
        "engine last, with a final snapshot); a second Ctrl-C forces it.",
    )
    add_feed_options(up)
    up.add_argument(
        "--start-timeout",
        type=positive_float,
        default=120.0,
        metavar="SECONDS",
        help="stop everything if not healthy after this long (default: 120)",
    )
    up.add_argument(
        "--stop-timeout",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="on stop, kill a service still running after this long (default: 30)",
    )
    up.add_argument(
        "--wait-previous",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="wait this long for a previous instance on the data folder to be gone, then "
        "give up (default: --stop-timeout + 15)",
    )
    up.add_argument(
        "--standby",
        action="store_true",
        help="also run a standby engine that takes over within about 3 s when the engine "
        "stops or dies (needs REDIS_URL and DATABASE_URL)",
    )
    up.add_argument(
        "--shards",
        type=positive_int,
        default=None,
        metavar="N",
        help="run N engine shards, each the single writer of its users (sets ENGINE_SHARDS "
        "for every service; needs REDIS_URL and DATABASE_URL; default: ENGINE_SHARDS)",
    )
    up.set_defaults(handler=_run_up)


def _run_up(args: argparse.Namespace) -> int:
    from tradepro.services.up.main import run_up  # noqa: PLC0415
    from tradepro.services.up.plan import UpOptions  # noqa: PLC0415

    settings = settings_or_exit()
    options = UpOptions(
        feed=feed_or_setting(args, settings),
        sim_rate_per_s=args.rate,
        seed=args.seed,
        start_timeout_s=args.start_timeout,
        stop_timeout_s=args.stop_timeout,
        wait_previous_s=args.wait_previous,
        standby=args.standby,
        shards=args.shards,
    )
    return run_up(settings, options)
