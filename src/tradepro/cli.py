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
from tradepro.feeds import FEEDS

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
    _add_poller(commands)
    _add_ws(commands)
    _add_up(commands)
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
    from tradepro.runtime.runner import run_service  # noqa: PLC0415
    from tradepro.services.engine.main import serve_engine  # noqa: PLC0415

    settings = _settings_or_exit()
    return run_service("engine", lambda stop: serve_engine(settings, stop))


def _run_api(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    from tradepro.api.app import create_app  # noqa: PLC0415
    from tradepro.api.server import http_server_options  # noqa: PLC0415
    from tradepro.config import SettingsError, check_mail  # noqa: PLC0415
    from tradepro.db.migrate import upgrade_sync  # noqa: PLC0415
    from tradepro.runtime.runner import configure_logging  # noqa: PLC0415

    settings = _settings_or_exit()
    try:
        check_mail(settings)
    except SettingsError as error:
        print(f"tradepro: {error}", file=sys.stderr)
        return 2
    configure_logging()
    settings.tradepro_data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_sync(settings.effective_database_url)
    uvicorn.run(
        create_app(settings),
        host=settings.bind_host,
        port=settings.api_port,
        proxy_headers=False,  # X-Forwarded-For only from TRUSTED_PROXIES: api/proxies.py
        log_level="warning",
        access_log=False,
        **http_server_options(settings),
    )
    return 0


def _run_migrate(args: argparse.Namespace) -> int:
    from tradepro.db.migrate import upgrade_sync  # noqa: PLC0415

    settings = _settings_or_exit()
    settings.tradepro_data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_sync(settings.effective_database_url)
    print(f"database migrated: {settings.effective_database_url.split('@')[-1]}")
    return 0


def _add_ws(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ws = commands.add_parser(
        "ws",
        help="run the WebSocket server (port WS_PORT, default 8080)",
        description="Serve live prices and each user's order events over WebSocket "
        "(protocol: docs/websocket.md), with /health and /metrics on the same port.",
    )
    ws.add_argument(
        "--host",
        default=None,
        help="address to listen on (default: BIND_HOST, 127.0.0.1: this machine only)",
    )
    ws.add_argument(
        "--send-queue",
        type=_positive_int,
        default=256,
        metavar="MESSAGES",
        help="messages a client may have waiting before it is closed with 1013 (default: 256)",
    )
    ws.add_argument(
        "--ping-interval",
        type=_positive_float,
        default=20.0,
        metavar="SECONDS",
        help="heartbeat ping interval (default: 20)",
    )
    ws.add_argument(
        "--ping-timeout",
        type=_positive_float,
        default=20.0,
        metavar="SECONDS",
        help="close a client whose pong is this late (default: 20)",
    )
    ws.add_argument(
        "--close-timeout",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="abort a connection whose closing handshake takes longer (default: 5)",
    )
    ws.add_argument(
        "--log-interval",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="how often connection counts are logged (default: 60)",
    )
    ws.set_defaults(handler=_run_ws)


def _run_ws(args: argparse.Namespace) -> int:
    from tradepro.runtime.runner import run_service  # noqa: PLC0415
    from tradepro.services.ws import GatewayOptions, serve_ws  # noqa: PLC0415

    settings = _settings_or_exit()
    options = GatewayOptions(
        host=args.host or settings.bind_host,
        port=settings.ws_port,
        send_queue=args.send_queue,
        ping_interval_s=args.ping_interval,
        ping_timeout_s=args.ping_timeout,
        close_timeout_s=args.close_timeout,
        log_interval_s=args.log_interval,
    )
    return run_service("ws", lambda stop: serve_ws(settings, stop, options))


def _add_poller(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    poller = commands.add_parser(
        "poller",
        help="run the price poller (Backpack bookTicker, or --feed sim) into engine-stream",
        description="Stream quotes from Backpack (BACKPACK_WS_URL, one bookTicker per ASSETS "
        "symbol) or from a seeded SIMULATED feed into engine-stream as price-update entries, "
        "and record one-minute candles in the database. Holds quotes (latest per symbol) "
        "while the engine does not answer. SIGTERM/SIGINT stop it.",
    )
    _add_feed_options(poller)
    poller.add_argument(
        "--max-rate",
        type=_positive_float,
        default=None,
        metavar="PER_S",
        help="most price-update entries per second per symbol (default: POLLER_MAX_RATE_PER_S, 50)",
    )
    poller.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics at http://0.0.0.0:PORT/metrics (default: off)",
    )
    poller.add_argument(
        "--status-interval",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="how often the status line is logged (default: 10)",
    )
    poller.add_argument(
        "--engine-timeout",
        type=_positive_float,
        default=2.0,
        metavar="SECONDS",
        help="hold quotes once the engine has not answered a probe for this long (default: 2)",
    )
    poller.set_defaults(handler=_run_poller)


def _add_feed_options(parser: argparse.ArgumentParser) -> None:
    """``--feed``, ``--rate`` and ``--seed``: the same for ``poller`` and ``up``."""
    parser.add_argument(
        "--feed",
        choices=FEEDS,
        default="backpack",
        help="price source (default: backpack, live at BACKPACK_WS_URL); "
        "sim is marked SIMULATED everywhere",
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=10.0,
        metavar="QUOTES_PER_S",
        help="--feed sim: quotes per second per asset (default: 10)",
    )
    parser.add_argument("--seed", type=int, default=None, help="--feed sim: random seed")


def _run_poller(args: argparse.Namespace) -> int:
    from tradepro.runtime.runner import run_service  # noqa: PLC0415
    from tradepro.services.poller.main import PollerOptions, serve_poller  # noqa: PLC0415

    settings = _settings_or_exit()
    if args.feed == "backpack":
        _check_websocket_url(settings.backpack_ws_url)
    options = PollerOptions(
        feed=args.feed,
        sim_rate_per_s=args.rate,
        seed=args.seed,
        max_rate_per_s=args.max_rate or settings.poller_max_rate_per_s,
        metrics_port=args.metrics_port,
        status_interval_s=args.status_interval,
        engine_timeout_s=args.engine_timeout,
    )
    return run_service("poller", lambda stop: serve_poller(settings, options, stop))


def _add_up(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = commands.add_parser(
        "up",
        help="run the whole platform: engine, api, ws and poller, with one banner",
        description="Migrate the database, then run the engine, api, ws and poller as child "
        "processes (embedded SQLite bus and database in TRADEPRO_DATA_DIR unless REDIS_URL / "
        "DATABASE_URL are set), their output prefixed with their names. A banner gives the "
        "URLs once healthy; a crashed service is restarted. Ctrl-C stops everything (the "
        "engine last, with a final snapshot); a second Ctrl-C forces it.",
    )
    _add_feed_options(up)
    up.add_argument(
        "--start-timeout",
        type=_positive_float,
        default=120.0,
        metavar="SECONDS",
        help="stop everything if not healthy after this long (default: 120)",
    )
    up.add_argument(
        "--stop-timeout",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="on stop, kill a service still running after this long (default: 30)",
    )
    up.set_defaults(handler=_run_up)


def _run_up(args: argparse.Namespace) -> int:
    from tradepro.services.up.main import run_up  # noqa: PLC0415
    from tradepro.services.up.plan import UpOptions  # noqa: PLC0415

    settings = _settings_or_exit()
    if args.feed == "backpack":
        _check_websocket_url(settings.backpack_ws_url)
    options = UpOptions(
        feed=args.feed,
        sim_rate_per_s=args.rate,
        seed=args.seed,
        start_timeout_s=args.start_timeout,
        stop_timeout_s=args.stop_timeout,
    )
    return run_up(settings, options)


def _check_websocket_url(url: str) -> None:
    from websockets.exceptions import InvalidURI  # noqa: PLC0415
    from websockets.uri import parse_uri  # noqa: PLC0415

    try:
        parse_uri(url)
    except InvalidURI:
        print(f"tradepro: BACKPACK_WS_URL must be a ws:// or wss:// URL, got {url!r}",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2) from None


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (1-65535), got {text!r}")
    return value


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
