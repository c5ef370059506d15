"""What the API tests share: a real SMTP mailbox, a running stack (engine + API), sessions.

The stack is the engine as an in-process ``EngineWorker`` task (migrations applied first)
and the app from ``create_app(Settings(...))`` with its lifespan running, reached through
``httpx.AsyncClient`` over ``ASGITransport``: one event loop, real bus and database, on
Redis + PostgreSQL or on the embedded default (SQLite bus and database in a folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from tests.support.stack import eventually
from tradepro.api.app import create_app
from tradepro.api.context import ApiContext
from tradepro.bus.base import Bus
from tradepro.bus.factory import open_bus
from tradepro.config import Settings
from tradepro.db.migrate import upgrade
from tradepro.db.session import open_database
from tradepro.db.snapshot_store import SnapshotStore
from tradepro.services.engine.worker import EngineWorker

JWT_SECRET = "api-tests-jwt-secret-0123456789abcdef0123456789"  # noqa: S105 (a test secret)
PUBLIC_URL = "http://tradepro.test"
BASE_URL = "http://testserver"
API = "/api/v1"
VERIFY_PREFIX = f"{PUBLIC_URL}{API}/auth/signin/verify?token="
LINK = re.compile(r"https?://\S+/api/v1/auth/signin/verify\?token=[A-Za-z0-9_.\-]+")
JSON = {"Accept": "application/json"}


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def links_to(self, email: str) -> list[str]:
        links: list[str] = []
        for message in list(self.messages):
            if message["To"] != email:
                continue
            body = message.get_body(("plain",))
            assert isinstance(body, EmailMessage)
            links.extend(LINK.findall(body.get_content()))
        return links

    async def link(self, email: str, index: int = 0) -> str:
        """The ``index``-th sign-in link e-mailed to ``email`` (waiting for it to arrive)."""
        await eventually(
            lambda: len(self.links_to(email)) > index, 10, f"sign-in e-mail #{index + 1} to {email}"
        )
        return self.links_to(email)[index]


def local_path(link: str) -> str:
    """The path and query of an e-mailed link, to call on the test client."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def new_email() -> str:
    return f"trader-{uuid.uuid4().hex[:10]}@example.com"


@dataclass(frozen=True)
class Session:
    user_id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def stack_settings(
    data_dir: Path,
    smtp_port: int,
    *,
    redis_url: str | None = None,
    namespace: str = "",
    database_url: str | None = None,
    **overrides: Any,
) -> Settings:
    """Every value explicit, so the environment of the test run cannot leak in."""
    values: dict[str, Any] = dict(
        tradepro_env="dev",
        redis_url=redis_url,
        tradepro_bus_namespace=namespace,
        database_url=database_url,
        tradepro_data_dir=data_dir,
        jwt_secret=JWT_SECRET,
        public_url=PUBLIC_URL,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        assets=("BTC_USDC", "ETH_USDC", "SOL_USDC"),
        starting_balance="5000.00",
        max_price_age_s=3600,
        snapshot_interval_s=3600,  # (final snapshots on stop; trades are recorded per batch)
        signup_limit_per_email_per_hour=5,
        signup_limit_per_address_per_hour=30,
        order_limit_per_s=20,
    )
    return Settings(**(values | overrides))


@dataclass
class Stack:
    """The engine and the API on one bus and one database."""

    kind: str
    settings: Settings
    mailbox: Mailbox
    app: FastAPI = field(init=False)
    client: httpx.AsyncClient = field(init=False)
    worker: EngineWorker | None = None
    _lifespan: Any = None
    _engine_stop: asyncio.Event | None = None
    _engine_task: asyncio.Task[None] | None = None
    _engine_bus: Bus | None = None
    _engine_db: Any = None
    workers: list[EngineWorker] = field(default_factory=list)
    """Every shard's engine (``workers[0]`` is ``worker``)."""
    _engine_buses: list[Bus] = field(default_factory=list)
    _engine_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, *, engine: bool = True) -> None:
        try:
            await upgrade(self.settings.effective_database_url)
            if engine:
                await self.start_engine()
            self.app = create_app(self.settings)
            lifespan = self.app.router.lifespan_context(self.app)
            await lifespan.__aenter__()
            self._lifespan = lifespan
            self.client = self.new_client()
        except BaseException:
            await self.close()  # what did start, stopped: no engine task left behind
            raise

    def new_client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url=BASE_URL)

    async def close(self) -> None:
        try:
            if hasattr(self, "client"):
                await self.client.aclose()
            lifespan, self._lifespan = self._lifespan, None
            if lifespan is not None:
                await lifespan.__aexit__(None, None, None)
        finally:
            await self.stop_engine()

    async def start_engine(self) -> None:
        """The engine, or with ``ENGINE_SHARDS`` > 1 one engine per shard (``workers``)."""
        settings = self.settings
        shards = settings.engine_shards
        self._engine_db = open_database(settings.effective_database_url)
        self._engine_stop = asyncio.Event()
        self.workers, self._engine_buses, self._engine_tasks = [], [], []
        for shard in range(shards):
            bus = open_bus(
                settings.redis_url,
                settings.tradepro_data_dir,
                namespace=settings.tradepro_bus_namespace,
                shards=shards,
                shard=shard,
                cluster=settings.redis_cluster,
            )
            worker = EngineWorker(
                bus,
                SnapshotStore(self._engine_db, shard=shard),
                settings.engine_config(),
                snapshot_interval_s=settings.snapshot_interval_s,
                block_ms=200,
                shard=shard,
                shards=shards,
            )
            self._engine_buses.append(bus)
            self.workers.append(worker)
            self._engine_tasks.append(asyncio.create_task(worker.run(self._engine_stop)))
        self.worker = self.workers[0]
        self._engine_bus = self._engine_buses[0]
        self._engine_task = self._engine_tasks[0]

    async def stop_shard(self, shard: int) -> None:
        """Stop one shard's engine at once, as a crash would; the other shards run on."""
        task = self._engine_tasks[shard]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._engine_tasks[shard] = asyncio.create_task(asyncio.sleep(0))  # stopped already

    async def stop_engine(self) -> None:
        if self._engine_task is None:
            return
        assert self._engine_stop is not None and self._engine_bus is not None
        self._engine_stop.set()
        try:
            await asyncio.gather(*self._engine_tasks)
        finally:
            self._engine_task = None
            for bus in self._engine_buses:
                await bus.close()
            await self._engine_db.dispose()

    async def restart_api(self) -> None:
        """Stop the API (its memory is gone, as after ``kill -9``) and start a new one on the
        same bus and database."""
        await self.client.aclose()
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.__aexit__(None, None, None)
        self.app = create_app(self.settings)
        lifespan = self.app.router.lifespan_context(self.app)
        await lifespan.__aenter__()
        self._lifespan = lifespan
        self.client = self.new_client()

    @contextlib.asynccontextmanager
    async def another_api(self) -> AsyncIterator[httpx.AsyncClient]:
        """A second API (as another process would be) on the same bus and database."""
        app = create_app(self.settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
                yield client

    @property
    def context(self) -> ApiContext:
        context: ApiContext = self.app.state.context
        return context

    async def publish_price(self, asset: str, bid: str, ask: str) -> None:
        """A ``price-update`` on ``engine-stream`` (ordered before every later request)."""
        payload = {"asset": asset, "bid": bid, "ask": ask}
        await self.context.bus.publish("price-update", payload, str(uuid.uuid4()))

    async def sign_up(self, email: str, client: httpx.AsyncClient | None = None) -> str:
        """Sign up and return the link e-mailed for it."""
        sent = len(self.mailbox.links_to(email))
        response = await (client or self.client).post(f"{API}/auth/signup", json={"email": email})
        assert response.status_code == 200, response.text
        return await self.mailbox.link(email, sent)

    async def sign_in(self, email: str | None = None) -> Session:
        """A new (or returning) user, signed in through the e-mailed link as an API client."""
        email = email or new_email()
        link = await self.sign_up(email)
        async with self.new_client() as client:  # the cookie stays out of the shared client
            response = await client.get(local_path(link), headers=JSON)
        assert response.status_code == 200, response.text
        body = response.json()
        return Session(body["user"]["id"], email, body["token"])

    async def create_order(self, session: Session, **order: Any) -> httpx.Response:
        body = {"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10} | order
        return await self.client.post(f"{API}/trade/create-order", json=body, headers=session.auth)

    async def close_order(self, session: Session, order_id: str) -> httpx.Response:
        return await self.client.post(
            f"{API}/trade/close-order", json={"orderId": order_id}, headers=session.auth
        )

    async def open_orders(self, session: Session) -> list[dict[str, Any]]:
        response = await self.client.get(f"{API}/trade/get-open-orders", headers=session.auth)
        assert response.status_code == 200, response.text
        orders: list[dict[str, Any]] = response.json()["orders"]
        return orders

    async def closed_orders(self, session: Session, **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            f"{API}/trade/get-close-orders", params=params, headers=session.auth
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def deposit_allowance(self, session: Session) -> str:
        """What ``session`` may still deposit today, from ``/account/limits`` (whose limits
        are checked to be the defaults)."""
        response = await self.client.get(f"{API}/account/limits", headers=session.auth)
        assert response.status_code == 200, response.text
        limits = response.json()
        assert (limits["dailyDepositCap"], limits["maxPaperBalance"]) == (
            "100000.00",
            "1000000.00",
        )
        assert limits["startingBalance"] == "5000.00"
        return str(limits["depositAllowance"])

    async def balance(self, session: Session) -> dict[str, str]:
        response = await self.client.get(f"{API}/balance/me", headers=session.auth)
        assert response.status_code == 200, response.text
        body: dict[str, str] = response.json()
        return body


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """A JSON ``{error, message}`` body with ``status`` (and nothing else in it)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == error, body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in body["message"]
    return body
