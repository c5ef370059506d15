"""``tradepro demo``: the engine on a simulated feed in the terminal (``tradepro.demo``)."""

from __future__ import annotations

import argparse
import random
import sys

from tradepro.cli.arguments import Commands, positive_float, positive_int


def add_demo(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the engine on a simulated feed with demo traders, logged live",
        description=(
            "Run the in-memory engine on a SIMULATED price feed with a few demo traders and "
            "log every order, close and rejection, with a status line every second. "
            "Ctrl-C stops it cleanly."
        ),
    )
    demo.add_argument(
        "--speed",
        type=positive_float,
        default=10.0,
        metavar="TICKS_PER_S",
        help="feed ticks per second (default: 10)",
    )
    demo.add_argument(
        "--seed", type=int, default=None, help="random seed; the same seed replays the same trades"
    )
    demo.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    demo.add_argument(
        "--traders", type=positive_int, default=5, help="number of demo traders (default: 5)"
    )
    demo.add_argument(
        "--volatility",
        type=positive_float,
        default=3.0,
        metavar="BPS",
        help="standard deviation of each tick's price move in basis points (default: 3)",
    )
    demo.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    # Imported here so `tradepro --help` and other subcommands stay fast and independent.
    from tradepro.demo import DemoOptions, StopRequest, run_demo  # noqa: PLC0415

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    options = DemoOptions(
        seed=seed,
        speed_hz=args.speed,
        duration_s=args.duration,
        traders=args.traders,
        volatility_bps=args.volatility,
    )
    stop = StopRequest()
    with stop.installed():
        return run_demo(options, sys.stdout, stop)
