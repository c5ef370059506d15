"""The WebSocket server: handshake (token, ``/health``, ``/metrics``), one handler per
connection, the feeds, periodic logging and a clean shutdown (every client closed 1001)."""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tradepro.bus.base import Bus
from tradepro.bus.factory import open_bus
from tradepro.bus.shards import shard_buses
from tradepro.config import Settings
from tradepro.db.account_events import read_events
from tradepro.db.api_keys import key_by_digest, record_use
from tradepro.db.session import open_database
from tradepro.runtime.heap import settle_heap
from tradepro.security.api_keys import ApiKeyVerifier, is_api_key
from tradepro.services.ws.auth import (
    BAD_TOKEN_CLOSE_CODE,
    InvalidTokenError,
    cross_site_cookie,
    handshake_token,
    verify_session,
)
from tradepro.services.ws.clients import WRITE_LIMIT_BYTES, Client
from tradepro.services.ws.feeds import OrderFeed, PriceFeed
from tradepro.services.ws.hub import Hub
from tradepro.services.ws.limits import (
    ConnectionLimits,
    MessageBudget,
    address_of,
    counted_connections,
    message_flood,
)
from tradepro.services.ws.messages import (
    ORDERS_CHANNEL,
    Authenticate,
    ProtocolError,
    Subscribe,
    authenticated_message,
    parse_client_message,
    subscriptions_message,
)
from tradepro.services.ws.metrics import GatewayCollector, metrics_registry, render_metrics
from tradepro.services.ws.replay import replay
from tradepro.services.ws.sessions import SessionGuard

log = logging.getLogger("tradepro.ws")
connection_log = logging.getLogger("tradepro.ws.connections")
"""The library's own log (a line per connection opened and closed)."""

GOING_AWAY_CLOSE_CODE = 1001
TRY_AGAIN_CLOSE_CODE = 1013
CROSS_SITE_REFUSAL = (
    "refused: this page is not one of TradePro's own, so it may not use your session "
    "cookie here (a program can send its token with ?token= or an auth message)\n"
)


@dataclass(frozen=True)
class GatewayOptions:
    """The server's knobs (``tradepro ws --help``); the port comes from ``WS_PORT``."""

    host: str = "0.0.0.0"  # noqa: S104 (a server: it listens where it is deployed)
    port: int = 8080
    send_queue: int = 256
    """Messages a client may have waiting; one more and it is closed with 1013."""
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    close_timeout_s: float = 5.0
    """How long a closing handshake may take before the TCP connection is aborted."""
    max_message_bytes: int = 16 * 1024
    """Largest client message; a bigger one closes the connection (1009)."""
    log_interval_s: float = 60.0


class Identity(NamedTuple):
    """Who a connection authenticated as, and what ends it."""

    user_id: str
    token_id: str
    """The session's ``jti``, or the key's revocation id: what a revocation names."""
    expires_at_s: int | None
    """A session's expiry; None for an API key (valid until revoked)."""


class Gateway:
    """The running server on one bus: ``await start()``, then ``await close()``."""

    def __init__(
        self, settings: Settings, bus: Bus, options: GatewayOptions, database: AsyncEngine
    ) -> None:
        self.settings = settings
        self.options = options
        self.assets = settings.assets
        self.database = database
        self.public_origins = settings.public_origins
        self.hub = Hub(
            close_timeout_s=options.close_timeout_s,
            price_rate_per_s=settings.ws_price_rate_per_s,
            shards=len(shard_buses(bus)),
        )
        shards = shard_buses(bus)
        self.prices = PriceFeed(shards[0], settings.instruments, self.hub)
        self.followers = [
            PriceFeed(shard_bus, settings.instruments, self.hub, shard=number)
            for number, shard_bus in enumerate(shards[1:], start=1)
        ]
        """With ``ENGINE_SHARDS`` > 1: a reader of each other shard's stream, for the order
        events of that shard (``PriceFeed.shard``)."""
        self.orders = OrderFeed(bus, self.hub)
        self.sessions = SessionGuard(self.hub)
        self.orders.requester.subscribe(self.sessions.on_callback)
        self.api_keys = ApiKeyVerifier(
            partial(key_by_digest, self.database),
            partial(record_use, self.database),
            self.sessions.revoked,
        )
        self.collector = GatewayCollector(self.hub, self.prices, self.orders, self.assets)
        self.limits = ConnectionLimits(
            settings.ws_max_connections_per_address,
            settings.ws_max_unauthenticated,
            self.hub.closed_by_server,
        )
        self._registry = metrics_registry(self.collector)
        self._tasks: list[asyncio.Task[None]] = []
        self._replays: dict[Client, asyncio.Task[None]] = {}
        """Replays of missed order events (``replay.py``): at most one per connection."""
        self._server: Server | None = None

    async def start(self) -> None:
        """Start the feeds and listen (the feeds keep retrying while the bus is down)."""
        self._spawn(self.prices.run(), "price-feed")
        for follower in self.followers:
            self._spawn(follower.run(), f"shard-{follower.shard}-feed")
        self._spawn(self.orders.run(), "order-feed")
        self._spawn(self.sessions.load(self.database, lambda: self.orders.started), "sessions")
        self._spawn(self._log_forever(), "ws-stats")
        options = self.options
        self._server = await serve(
            self._handle,
            options.host,
            options.port,
            process_request=self._process_request,
            compression=None,  # one serialized message for all: no per-client deflate
            ping_interval=options.ping_interval_s,
            ping_timeout=options.ping_timeout_s,
            close_timeout=options.close_timeout_s,
            max_size=options.max_message_bytes,
            write_limit=WRITE_LIMIT_BYTES,
            logger=connection_log,
            open_timeout=self.settings.ws_handshake_timeout_s,
            create_connection=counted_connections(self.limits),
            # Several processes share the port (WS_PROCESSES): the kernel spreads the
            # connections over them; one process alone keeps the port to itself.
            reuse_port=self.settings.ws_processes > 1,
        )
        log.info(
            "ws listening on %s:%d (send queue %d messages, assets %s)",
            options.host, self.port, options.send_queue, ",".join(self.assets),
        )  # fmt: skip

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        """Stop accepting, close every client with 1001, stop the feeds."""
        if self._server is not None:
            self._server.close(close_connections=False)
            await self.hub.close_all(GOING_AWAY_CLOSE_CODE, "server shutting down")
            await self._server.wait_closed()
        for task in [*self._tasks, *self._replays.values()]:
            task.cancel()
        for task in [*self._tasks, *self._replays.values()]:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=name))

    # -- handshake ----------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if path == "/":
            if cross_site_cookie(request.path, request.headers, self.public_origins):
                self.hub.closed_by_server["cross_site"] += 1
                return connection.respond(http.HTTPStatus.FORBIDDEN, CROSS_SITE_REFUSAL)
            return None  # the WebSocket handshake goes on
        if path == "/health":
            body = self.collector.health() | {"sessions": self.sessions.loaded}
            status = http.HTTPStatus.OK if body["bus"] else http.HTTPStatus.SERVICE_UNAVAILABLE
            return _response(connection, status, orjson.dumps(body), "application/json")
        if path == "/metrics":
            metrics = render_metrics(self._registry)
            return _response(connection, http.HTTPStatus.OK, metrics, CONTENT_TYPE_LATEST)
        return connection.respond(http.HTTPStatus.NOT_FOUND, "not found: connect to /\n")

    # -- one connection -----------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        client = Client(connection, self.options.send_queue, self.hub.latest_prices)
        self.hub.join(client)
        writer = asyncio.create_task(client.write_forever())
        try:
            request = connection.request
            token = None if request is None else handshake_token(request.path, request.headers)
            if self._admitted(client, connection, anonymous=token is None) and (
                token is None or await self._authenticate(client, token, acknowledge=False)
            ):
                await self._receive(client, connection)
        except ConnectionClosed:
            pass  # the client went away: nothing to answer
        finally:
            self.limits.left(client)
            self.hub.leave(client)
            self.sessions.leave(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if client.closing is not None:
                await client.closing  # so the library never closes it first with 1000

    def _admitted(self, client: Client, connection: ServerConnection, *, anonymous: bool) -> bool:
        """Within the connection limits (``limits.py``); otherwise closed (4429 or 4503)."""
        refusal = self.limits.admit(address_of(connection.transport), client, anonymous=anonymous)
        if refusal is None:
            return True
        self.hub.close(client, refusal.code, refusal.reason, refusal.why)
        return False

    async def _receive(self, client: Client, connection: ServerConnection) -> None:
        settings = self.settings
        budget = MessageBudget(settings.ws_messages_per_s, settings.ws_message_burst)
        async for raw in connection:
            if client.closing is not None:
                return
            if not budget.take():
                flood = message_flood(settings.ws_messages_per_s)
                self.hub.close(client, flood.code, flood.reason, flood.why)
                return
            await self._on_message(client, raw)

    async def _on_message(self, client: Client, raw: str | bytes) -> None:
        try:
            message = parse_client_message(raw, self.assets)
        except ProtocolError as error:
            self.hub.reply_error(client, error.error, error.message)
            return
        if isinstance(message, Authenticate):
            if client.user_id is not None:
                self.hub.reply_error(
                    client, "already_authenticated", "this connection is already authenticated"
                )
            else:
                await self._authenticate(client, message.token, acknowledge=True)
        elif isinstance(message, Subscribe):
            self._subscribe(client, message)
        else:
            self.hub.unsubscribe(client, message.channels)
            self.hub.reply(client, subscriptions_message(client.channels))

    def _subscribe(self, client: Client, message: Subscribe) -> None:
        channels, since = message.channels, message.since
        if ORDERS_CHANNEL in channels and client.user_id is None:
            self.hub.reply_error(
                client,
                "unauthorized",
                "the orders channel needs a session token: the token cookie, ?token= "
                'or an {"type":"auth"} message first',
            )
            return
        if since is not None and ORDERS_CHANNEL in client.channels:
            self.hub.reply_error(
                client,
                "already_subscribed",
                "orders is already followed on this connection: unsubscribe from it first "
                "to replay with since",
            )
            return
        if since is not None and client in self._replays:
            # One read of the log at a time per connection, however fast a client
            # unsubscribes and asks again.
            self.hub.reply_error(
                client,
                "replay_running",
                "missed events are still being read for this connection: wait for them, "
                "or reconnect, before subscribing with since again",
            )
            return
        added = self.hub.subscribe(client, channels)
        if since is not None:
            self.hub.start_replay(client)  # live events wait until the missed ones are out
        self.hub.reply(client, subscriptions_message(client.channels))
        self.hub.send_latest_prices(client, added)
        self.prices.feed_reports.greet(client, added)
        if since is not None:
            read = partial(read_events, self.database)
            task = asyncio.create_task(replay(self.hub, read, client, since))
            self._replays[client] = task
            task.add_done_callback(lambda _task: self._replays.pop(client, None))

    async def _authenticate(self, client: Client, token: str, *, acknowledge: bool) -> bool:
        """Verify ``token`` (a session JWT or an API key); a bad one closes the client with
        4401 and returns ``False``."""
        if not self.sessions.loaded:
            self.hub.close(client, TRY_AGAIN_CLOSE_CODE, "starting up: try again shortly",
                           "sessions_loading")  # fmt: skip
            return False
        try:
            identity = await self._identify(token)
        except (SQLAlchemyError, OSError):
            self.hub.close(client, TRY_AGAIN_CLOSE_CODE, "cannot check API keys now: try again",
                           "keys_unavailable")  # fmt: skip
            return False
        if client.closing is not None:
            return False  # closed meanwhile (the server stops, or the client went away)
        if identity is None or not self.sessions.admit(client, identity.token_id):
            self.hub.close(client, BAD_TOKEN_CLOSE_CODE, "invalid or expired session token",
                           "bad_token")  # fmt: skip
            return False
        client.user_id = identity.user_id
        self.limits.authenticated(client)
        if identity.expires_at_s is not None:
            delay_s = max(0.0, identity.expires_at_s - time.time())
            client.expiry = asyncio.get_running_loop().call_later(
                delay_s,
                self.hub.close, client, BAD_TOKEN_CLOSE_CODE, "session token expired",
                "token_expired",
            )  # fmt: skip
        if acknowledge:
            self.hub.reply(client, authenticated_message(identity.user_id))
        return True

    async def _identify(self, token: str) -> Identity | None:
        """Who ``token`` names: a session (until it expires) or an API key (until revoked)."""
        if is_api_key(token):
            try:
                key = await self.api_keys.verify(token)
            except InvalidTokenError:
                return None
            return Identity(key.user_id, key.token_id, None)
        try:
            claims = verify_session(self.settings.jwt_secret, token)
        except InvalidTokenError:
            return None
        return Identity(claims.user_id, claims.token_id, claims.expires_at)

    async def _log_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.log_interval_s)
            health = self.collector.health()
            log.info(
                "ws: %d connections (%d authenticated), bus %s, closed by server %s",
                health["connections"], health["authenticated"],
                "up" if health["bus"] else "DOWN", health["closedByServer"] or "none",
            )  # fmt: skip


def _response(
    connection: ServerConnection, status: http.HTTPStatus, body: bytes, content_type: str
) -> Response:
    response = connection.respond(status, "")
    response.body = body
    del response.headers["Content-Length"], response.headers["Content-Type"]
    response.headers["Content-Length"] = str(len(body))
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response


async def serve_ws(settings: Settings, stop: asyncio.Event, options: GatewayOptions) -> None:
    """Run the server on the configured bus until ``stop`` is set."""
    # A line per connection with LOG_LEVEL=DEBUG, never the library's line per frame.
    connection_log.setLevel(logging.INFO if log.isEnabledFor(logging.DEBUG) else logging.WARNING)
    bus = open_bus(
        settings.redis_url,
        settings.tradepro_data_dir,
        namespace=settings.tradepro_bus_namespace,
        shards=settings.engine_shards,
        cluster=settings.redis_cluster,
    )
    database = open_database(settings.effective_database_url)
    gateway = Gateway(settings, bus, options, database)
    try:
        try:
            await gateway.start()
        except OSError as error:  # the port is taken, the address is not ours, ...
            log.error("ws: cannot listen on %s:%d: %s", options.host, options.port, error)
            raise SystemExit(1) from None
        settle_heap()
        await stop.wait()
        log.info("ws: closing %d connections", len(gateway.hub.clients))
    finally:
        await gateway.close()
        await bus.close()
        await database.dispose()
