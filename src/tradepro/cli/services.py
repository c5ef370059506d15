"""The service subcommands: ``engine``, ``api``, ``migrate``, ``ws`` and ``poller``; each
runs one process until SIGTERM/SIGINT (``tradepro.runtime.runner``)."""

from __future__ import annotations

import argparse
import socket
import sys

from tradepro.cli.arguments import (
    Commands,
    add_feed_options,
    feed_or_setting,
    port_number,
    positive_float,
    positive_int,
    settings_or_exit,
)


def add_services(commands: Commands) -> None:
    engine = commands.add_parser(
        "engine",
        help="run the trading engine service (engine-stream in, callback-queue out)",
        description="Run the engine: migrate the database, restore the latest snapshot, "
        "replay the stream after it, then consume until SIGTERM/SIGINT (final snapshot).",
    )
    engine.add_argument(
        "--shard",
        type=int,
        default=None,
        metavar="K",
        help="apply shard K of ENGINE_SHARDS (default: ENGINE_SHARD, else 0)",
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


def _run_engine(args: argparse.Namespace) -> int:
    from tradepro.runtime.runner import run_service  # noqa: PLC0415
    from tradepro.services.engine.main import serve_engine  # noqa: PLC0415

    settings = settings_or_exit()
    if args.shard is not None:
        if not 0 <= args.shard < settings.engine_shards:
            print(
                f"tradepro: --shard {args.shard} is not a shard of ENGINE_SHARDS="
                f"{settings.engine_shards} (shards are numbered from 0)",
                file=sys.stderr,
            )
            return 2
        settings = settings.model_copy(update={"engine_shard": args.shard})
    return run_service("engine", lambda stop: serve_engine(settings, stop))


def _run_api(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    from tradepro.api.app import create_app  # noqa: PLC0415
    from tradepro.api.server import http_server_options  # noqa: PLC0415
    from tradepro.config import SettingsError, check_mail  # noqa: PLC0415
    from tradepro.db.migrate import upgrade_sync  # noqa: PLC0415
    from tradepro.runtime.runner import configure_logging  # noqa: PLC0415

    settings = settings_or_exit()
    try:
        check_mail(settings)
    except SettingsError as error:
        print(f"tradepro: {error}", file=sys.stderr)
        return 2
    configure_logging()
    settings.tradepro_data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_sync(settings.effective_database_url)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.bind_host,
        port=settings.api_port,
        proxy_headers=False,  # X-Forwarded-For only from TRUSTED_PROXIES: api/proxies.py
        log_level="warning",
        access_log=False,
        **http_server_options(settings),
    )
    server = uvicorn.Server(config)
    if settings.api_processes == 1:
        server.run()
        return 0
    try:  # several processes on one port: the kernel spreads the connections over them
        listening = shared_socket(settings.bind_host, settings.api_port)
    except OSError as error:
        print(f"tradepro: cannot listen on {settings.bind_host}:{settings.api_port}: {error}",
              file=sys.stderr)  # fmt: skip
        return 1
    server.run(sockets=[listening])
    return 0


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket with ``SO_REUSEPORT``: the other API processes on ``port`` (with
    ``API_PROCESSES`` > 1) bind it too, and the kernel balances new connections."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listening.bind(address)
        listening.listen(2048)
    except OSError:
        listening.close()
        raise
    listening.set_inheritable(True)
    return listening


def _run_migrate(args: argparse.Namespace) -> int:
    from tradepro.db.migrate import upgrade_sync  # noqa: PLC0415

    settings = settings_or_exit()
    settings.tradepro_data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_sync(settings.effective_database_url)
    print(f"database migrated: {settings.effective_database_url.split('@')[-1]}")
    return 0


def add_ws(commands: Commands) -> None:
    ws = commands.add_parser(
        "ws",
        help="run the WebSocket server (port WS_PORT, default 8080)",
        description="Serve live prices (conflated to WS_PRICE_RATE_PER_S per asset) and each "
        "user's order events over WebSocket (protocol: docs/websocket.md), with /health and "
        "/metrics on the same port; WS_PROCESSES of them may share the port.",
    )
    ws.add_argument(
        "--host",
        default=None,
        help="address to listen on (default: BIND_HOST, 127.0.0.1: this machine only)",
    )
    ws.add_argument(
        "--send-queue",
        type=positive_int,
        default=256,
        metavar="MESSAGES",
        help="order events and replies a client may have waiting before it is closed with "
        "1013 (default: 256; prices never wait: they are conflated)",
    )
    ws.add_argument(
        "--ping-interval",
        type=positive_float,
        default=20.0,
        metavar="SECONDS",
        help="heartbeat ping interval (default: 20)",
    )
    ws.add_argument(
        "--ping-timeout",
        type=positive_float,
        default=20.0,
        metavar="SECONDS",
        help="close a client whose pong is this late (default: 20)",
    )
    ws.add_argument(
        "--close-timeout",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="abort a connection whose closing handshake takes longer (default: 5)",
    )
    ws.add_argument(
        "--log-interval",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="how often connection counts are logged (default: 60)",
    )
    ws.set_defaults(handler=_run_ws)


def _run_ws(args: argparse.Namespace) -> int:
    from tradepro.runtime.runner import run_service  # noqa: PLC0415
    from tradepro.services.ws import GatewayOptions, serve_ws  # noqa: PLC0415

    settings = settings_or_exit()
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


def add_poller(commands: Commands) -> None:
    poller = commands.add_parser(
        "poller",
        help="run the price poller (Backpack bookTicker, or --feed sim) into engine-stream",
        description="Stream quotes from Backpack (BACKPACK_WS_URL, one bookTicker per ASSETS "
        "symbol) or from a seeded SIMULATED feed into engine-stream as price-update entries, "
        "and record one-minute candles in the database. Holds quotes (latest per symbol) "
        "while the engine does not answer. SIGTERM/SIGINT stop it.",
    )
    add_feed_options(poller)
    poller.add_argument(
        "--max-rate",
        type=positive_float,
        default=None,
        metavar="PER_S",
        help="most price-update entries per second per symbol (default: POLLER_MAX_RATE_PER_S, 50)",
    )
    poller.add_argument(
        "--metrics-port",
        type=port_number,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics at http://0.0.0.0:PORT/metrics (default: off)",
    )
    poller.add_argument(
        "--status-interval",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="how often the status line is logged (default: 10)",
    )
    poller.add_argument(
        "--engine-timeout",
        type=positive_float,
        default=2.0,
        metavar="SECONDS",
        help="hold quotes once the engine has not answered a probe for this long (default: 2)",
    )
    poller.set_defaults(handler=_run_poller)


def _run_poller(args: argparse.Namespace) -> int:
    from tradepro.runtime.runner import run_service  # noqa: PLC0415
    from tradepro.services.poller.main import PollerOptions, serve_poller  # noqa: PLC0415

    settings = settings_or_exit()
    options = PollerOptions(
        feed=feed_or_setting(args, settings),
        sim_rate_per_s=args.rate,
        seed=args.seed,
        max_rate_per_s=args.max_rate or settings.poller_max_rate_per_s,
        metrics_port=args.metrics_port,
        status_interval_s=args.status_interval,
        engine_timeout_s=args.engine_timeout,
    )
    return run_service("poller", lambda stop: serve_poller(settings, options, stop))
