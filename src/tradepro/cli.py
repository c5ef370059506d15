"""The ``tradepro`` command: one subcommand per service or tool.

``tradepro demo`` runs the in-memory engine on the simulated feed in the terminal; the
services (``up``, ``api``, ``engine``, ``poller``, ``ws``, ``migrate``) join as subcommands.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tradepro import __version__

if TYPE_CHECKING:
    from tradepro.config import Settings

Handler = Callable[[argparse.Namespace], int]

EXIT_INTERRUPTED = 130
"""Exit code after a second Ctrl-C (128 + SIGINT), the shell convention."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit code."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`tradepro demo | head`): stop quietly, without a traceback
        # from the final flush at interpreter exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradepro",
        description="TradePro: leveraged CFD paper trading with an in-memory engine.",
    )
    parser.add_argument("--version", action="version", version=f"tradepro {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_demo(commands)
    _add_services(commands)
    return parser


def _add_services(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    engine = commands.add_parser(
        "engine",
        help="run the trading engine service (engine-stream in, callback-queue out)",
        description="Run the engine: migrate the database, restore the latest snapshot, "
        "replay the stream after it, then consume until SIGTERM/SIGINT (final snapshot).",
    )
    engine.set_defaults(handler=_run_engine)
    api = commands.add_parser(
        "api", help="run the HTTP API (port API_PORT, default 4000)",
        description="Serve the REST API under /api/v1, OpenAPI at /docs, /health, /metrics.",
    )  # fmt: skip
    api.set_defaults(handler=_run_api)
    migrate = commands.add_parser(
        "migrate", help="apply the database migrations (DATABASE_URL or the embedded SQLite)"
    )
    migrate.set_defaults(handler=_run_migrate)


def _settings_or_exit() -> Settings:
    from tradepro.config import SettingsError, load_settings  # noqa: PLC0415

    try:
        return load_settings()
    except SettingsError as error:
        print(f"tradepro: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _run_engine(args: argparse.Namespace) -> int:
    from tradepro.services.engine_main import serve_engine  # noqa: PLC0415
    from tradepro.services.runner import run_service  # noqa: PLC0415

    settings = _settings_or_exit()
    return run_service("engine", lambda stop: serve_engine(settings, stop))


def _run_api(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    from tradepro.api.app import create_app  # noqa: PLC0415
    from tradepro.db.migrate import upgrade_sync  # noqa: PLC0415
    from tradepro.services.runner import configure_logging  # noqa: PLC0415

    settings = _settings_or_exit()
    configure_logging()
    settings.tradepro_data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_sync(settings.effective_database_url)
    uvicorn.run(
        create_app(settings),
        host="0.0.0.0",  # noqa: S104 (a server: it listens where it is deployed)
        port=settings.api_port,
        log_level="warning",
        access_log=False,
    )
    return 0


def _run_migrate(args: argparse.Namespace) -> int:
    from tradepro.db.migrate import upgrade_sync  # noqa: PLC0415

    settings = _settings_or_exit()
    settings.tradepro_data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_sync(settings.effective_database_url)
    print(f"database migrated: {settings.effective_database_url.split('@')[-1]}")
    return 0


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        type=_positive_float,
        default=10.0,
        metavar="TICKS_PER_S",
        help="feed ticks per second (default: 10)",
    )
    demo.add_argument(
        "--seed", type=int, default=None, help="random seed; the same seed replays the same trades"
    )
    demo.add_argument(
        "--duration",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    demo.add_argument(
        "--traders", type=_positive_int, default=5, help="number of demo traders (default: 5)"
    )
    demo.add_argument(
        "--volatility",
        type=_positive_float,
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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
