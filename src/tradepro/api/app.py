"""The FastAPI application: routes under ``/api/v1``, health, metrics, one error mapper."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradepro import __version__
from tradepro.api.bodylimit import BodyLimit
from tradepro.api.bus_metrics import RequesterCollector
from tradepro.api.context import ApiContext
from tradepro.api.docs_pages import install_docs
from tradepro.api.errors import install_error_handlers
from tradepro.api.fastpath import FastPath
from tradepro.api.health import health as shard_health
from tradepro.api.idempotency import purge_forever
from tradepro.api.mail import Mailer
from tradepro.api.proxies import ForwardedFor
from tradepro.api.ratelimit import MemoryRateLimiter, RateLimiter
from tradepro.api.readlimit import ReadLimiter, ReadLimits, SharedReadLimiter
from tradepro.api.routes import (
    account,
    account_events,
    api_keys,
    auth,
    balance,
    export,
    manage,
    market,
    pending,
    portfolio,
    trade,
    ui,
)
from tradepro.bus.factory import open_bus
from tradepro.bus.ratelimit import LeasedRateLimiter, RedisRateLimiter
from tradepro.bus.readlimit import LeasedTokenBuckets
from tradepro.bus.requests import Requester
from tradepro.config import Settings
from tradepro.db.revocations import load_revocations
from tradepro.db.session import open_database
from tradepro.runtime.heap import collect_on_schedule, settle_heap
from tradepro.web.serve import install_ui

MAX_BODY_BYTES = 64 * 1024
"""Larger request bodies are refused with 413 before they are read whole (the largest
real body, a create-order, is a few hundred bytes)."""
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False, "metrics": False, "logs": False, "operation_spans": False,
}  # fmt: skip
"""FastAPI's OpenTelemetry hooks, off: we export Prometheus metrics ourselves (``/metrics``)
and configure no OpenTelemetry provider, yet the hooks cost a few percent of every request
(looking for one)."""


class MetricsMiddleware:
    """Counts and times requests by route template (plain ASGI: no per-request task or
    body streaming detour, unlike ``@app.middleware("http")``)."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            key = (scope["method"], route, status)
            series = self._series.get(key)
            if series is None:  # looking a labelled child up costs a lock and a tuple each
                counter = self.requests.labels(key[0], route, str(status))
                series = (counter, self.latency.labels(route))
                self._series[key] = series
            series[0].inc()
            series[1].observe(time.perf_counter() - started)


@asynccontextmanager
async def _lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """The process's bus, requester, database and limits, opened and closed with it."""
    settings.tradepro_data_dir.mkdir(parents=True, exist_ok=True)
    bus = open_bus(
        settings.redis_url,
        settings.tradepro_data_dir,
        namespace=settings.tradepro_bus_namespace,
        shards=settings.engine_shards,  # a user's requests go to their shard
        cluster=settings.redis_cluster,
    )
    requester = Requester(bus)
    await requester.start()
    limiter, order_limiter, reads, key_reads = _limits(settings)
    database = open_database(settings.effective_database_url)
    app.state.context = context = ApiContext(
        settings,
        bus,
        requester,
        database,
        limiter,
        Mailer(settings.smtp_url),
        order_limiter,
        reads,
        key_reads,
    )
    collecting: asyncio.Task[None] | None = None
    purging = asyncio.create_task(
        purge_forever(
            context.idempotency,
            settings.idempotency_retention_s,
            settings.idempotency_purge_interval_s,
        )
    )
    try:
        # After the requester subscribed: a sign-out is in the table or comes as a callback.
        context.sessions.revoked.load(await load_revocations(database))
        settle_heap()
        collecting = asyncio.create_task(collect_on_schedule())
        yield
    finally:
        purging.cancel()
        if collecting is not None:
            collecting.cancel()
        await requester.stop()
        await limiter.close()
        await order_limiter.close()
        await reads.close()
        await key_reads.close()
        await bus.close()
        await database.dispose()


def _limits(settings: Settings) -> tuple[RateLimiter, RateLimiter, ReadLimits, ReadLimits]:
    """Sign-up, order and read limits (reads per account, then per API key): in Redis when
    Redis is the bus (every API process counts against the same limits, on one server or a
    cluster), else in this process."""
    rates = (
        (settings.read_limit_per_s, settings.read_burst),
        (settings.key_read_limit_per_s, settings.key_read_burst),
    )
    if not settings.redis_url:
        in_memory = [ReadLimiter(rate, burst) for rate, burst in rates]
        return MemoryRateLimiter(), MemoryRateLimiter(), in_memory[0], in_memory[1]
    url, namespace, cluster = (
        settings.redis_url, settings.tradepro_bus_namespace, settings.redis_cluster
    )  # fmt: skip
    reads, key_reads = (
        SharedReadLimiter(LeasedTokenBuckets(url, namespace, rate, burst, cluster=cluster))
        for rate, burst in rates
    )  # their keys differ: a user id, or "key:" and the key's id
    return (
        RedisRateLimiter(url, namespace, cluster=cluster),
        LeasedRateLimiter(url, namespace, cluster=cluster),
        reads,
        key_reads,
    )


def create_app(settings: Settings, *, fast_path: bool = True) -> FastAPI:
    """The API. ``fast_path=False`` leaves every request to FastAPI (for comparison)."""
    registry = CollectorRegistry()
    requests = Counter(
        "tradepro_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "tradepro_http_request_seconds", "HTTP request latency", ["route"], registry=registry
    )

    app = FastAPI(
        title="TradePro",
        version=__version__,
        description="Leveraged CFD paper trading. Money, prices and quantities are decimal "
        "strings; errors are `{error, message}`.",
        lifespan=lambda app: _lifespan(app, settings),
        telemetry=NO_TELEMETRY,
        docs_url=None,  # served offline by install_docs
        redoc_url=None,  # not served (docs_pages.py says why)
    )
    registry.register(RequesterCollector(lambda: _running_requester(app)))
    install_error_handlers(app)
    install_docs(app)
    app.include_router(auth.router)
    app.include_router(api_keys.router)
    app.include_router(trade.router)
    app.include_router(pending.router)
    app.include_router(export.router)
    app.include_router(manage.router)
    app.include_router(balance.router)
    app.include_router(account.router)
    app.include_router(portfolio.router)
    app.include_router(account_events.router)
    app.include_router(market.router)
    app.include_router(ui.router)
    install_ui(app)

    if fast_path:  # inside the metrics (which count its requests too); see api/fastpath.py
        app.add_middleware(FastPath, routes=[*trade.router.routes, *balance.router.routes])
    app.add_middleware(BodyLimit, limit_bytes=MAX_BODY_BYTES)
    app.add_middleware(MetricsMiddleware, requests=requests, latency=latency)
    if settings.trusted_proxies:  # outermost: everything inside sees the real client
        app.add_middleware(ForwardedFor, trusted=settings.trusted_proxies)

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> JSONResponse:
        """Liveness, and whether every engine shard answers within a second (each named)."""
        context: ApiContext = request.app.state.context
        body, status = await shard_health(context.requester, settings.engine_shards)
        return JSONResponse(body, status)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _running_requester(app: FastAPI) -> Requester | None:
    context: ApiContext | None = getattr(app.state, "context", None)
    return None if context is None else context.requester
