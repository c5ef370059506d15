"""What the WebSocket tests share: ``tradepro ws`` as a real process, clients that collect
what they receive, traders with session tokens, and orders placed through the engine."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.servers import free_port
from tests.support.stack import EngineProcess, ServiceProcess, eventually
from tradepro.bus.base import Bus, Entry
from tradepro.bus.requests import Requester, RequestTimeoutError
from tradepro.security.tokens import SESSION, issue

JWT_SECRET = "ws-tests-jwt-secret-0123456789abcdef0123456789"  # noqa: S105 (a test secret)
PUBLIC_URL = "http://tradepro.test:4000"
"""The server's ``PUBLIC_URL``: a cookie handshake must come from this origin."""


class WsProcess(ServiceProcess):
    """``tradepro ws`` as a child process on a port of its own, its log kept for failures."""

    def __init__(self, env: Mapping[str, str], port: int, log_path: Path, *args: str) -> None:
        settings = {
            "JWT_SECRET": JWT_SECRET,
            "WS_PORT": str(port),
            "PUBLIC_URL": PUBLIC_URL,
            "TRADEPRO_DATA_DIR": str(log_path.parent / "ws-data"),  # never the working folder
            **env,
        }
        super().__init__("ws", settings, log_path, args)
        self.port = port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[WsProcess]:
        """Started, answering ``/health`` with its sessions loaded, and closed afterwards."""
        self.start()
        try:
            await self.wait_healthy()
            yield self
        finally:
            self.close()

    async def wait_healthy(self, timeout_s: float = 30.0) -> None:
        async def healthy() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, f"tradepro ws exited:\n{self.log_tail()}"
            status, body = await self.get("/health")
            return status == 200 and bool(orjson.loads(body).get("sessions"))

        await eventually(
            healthy, timeout_s, "tradepro ws to answer /health with 200 and sessions loaded"
        )

    async def get(self, path: str) -> tuple[int, bytes]:
        """An HTTP GET on the server's port: (status, body); (0, b"") if it does not answer."""
        return await asyncio.to_thread(_http_get, f"http://127.0.0.1:{self.port}{path}")

    async def metric(self, name: str, **labels: str) -> float:
        """One sample of ``/metrics`` (0 when absent)."""
        wanted = name + (
            "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
        )
        _, body = await self.get("/metrics")
        for line in body.decode().splitlines():
            sample, _, value = line.rpartition(" ")
            if sample == wanted:
                return float(value)
        return 0.0


class WsGroup:
    """``count`` ``tradepro ws`` processes sharing one port (``WS_PROCESSES``), as
    ``tradepro up`` runs them. A request on the port reaches one of them (the kernel picks
    by the connection's addresses), so ``health_by_pid`` asks until each has answered."""

    def __init__(self, env: Mapping[str, str], count: int, folder: Path) -> None:
        self.port = free_port()
        shared = {**env, "WS_PROCESSES": str(count)}
        self.processes = [
            WsProcess(shared, self.port, folder / f"ws-{n}" / "ws.log") for n in range(count)
        ]
        self.url = self.processes[0].url

    @property
    def pids(self) -> set[int]:
        return {p.process.pid for p in self.processes if p.process is not None}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[WsGroup]:
        """Started, every process answering ``/health`` with its sessions loaded."""
        for process in self.processes:
            process.log_path.parent.mkdir(parents=True, exist_ok=True)
            process.start()
        try:
            await eventually(self._all_healthy, 60, "every ws process to answer /health")
            yield self
        finally:
            for process in self.processes:
                process.close()

    async def _all_healthy(self) -> bool:
        for process in self.processes:
            assert process.alive(), f"tradepro ws exited:\n{process.log_tail()}"
        bodies = await self.health_by_pid()
        return set(bodies) == self.pids and all(body["sessions"] for body in bodies.values())

    async def health_by_pid(self, attempts: int = 64) -> dict[int, dict[str, Any]]:
        """The latest ``/health`` body of each process that answered in ``attempts``
        requests (each a new connection, so they spread over the processes)."""
        bodies: dict[int, dict[str, Any]] = {}
        for _ in range(attempts):
            status, body = await self.processes[0].get("/health")
            if status == 200:
                health = orjson.loads(body)
                bodies[health["pid"]] = health
            if set(bodies) == self.pids:
                break
        return bodies


def _http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (a local URL)
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())
    except OSError:
        return 0, b""


class Inbox:
    """Reads everything a client connection receives, in a task of its own."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.messages: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                self.messages.append(orjson.loads(raw))
        except ConnectionClosed:
            pass
        self.close_code = self.connection.close_code

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message["type"] == kind]

    async def first(
        self, matches: Callable[[dict[str, Any]], bool], what: str, timeout_s: float = 15.0
    ) -> dict[str, Any]:
        """The first message received for which ``matches`` holds (waiting for it)."""
        await eventually(lambda: any(map(matches, self.messages)), timeout_s, what)
        return next(message for message in self.messages if matches(message))

    async def closed(self, timeout_s: float = 15.0) -> int | None:
        await eventually(self._task.done, timeout_s, "the connection to close")
        return self.close_code

    async def send(self, message: object) -> None:
        await self.connection.send(orjson.dumps(message).decode())

    async def subscribe(self, *channels: str) -> dict[str, Any]:
        """Subscribe and wait for the server's reply (after it, the channels are live)."""
        seen = len(self.messages)
        await self.send({"type": "subscribe", "channels": list(channels)})
        return await self.first(
            lambda m: m in self.messages[seen:] and m["type"] in ("subscriptions", "error"),
            f"the reply to subscribing to {channels}",
        )

    async def close(self) -> None:
        await self.connection.close()
        await self._task


def cookie_headers(token: str, origin: str = PUBLIC_URL) -> dict[str, str]:
    """A browser's handshake headers: the session cookie, and the page's origin."""
    return {"Cookie": f"token={token}", "Origin": origin}


class Trader:
    """A registered user with a session token (as ``/auth/signin/verify`` issues it)."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.email = f"trader-{user_id[:8]}@example.com"
        self.token = issue(JWT_SECRET, SESSION, user_id, self.email, 3600)[0]


async def register(requester: Requester) -> Trader:
    trader = Trader(str(uuid.uuid4()))
    reply = await requester.send_request_and_wait("register-user", {"userId": trader.user_id})
    assert reply["status"] == "registered", reply
    return trader


async def create_order(requester: Requester, trader: Trader, **fields: object) -> dict[str, Any]:
    payload = {"userId": trader.user_id, "asset": "BTC_USDC", "side": "buy", "qty": "0.01000",
               "leverage": 10} | fields  # fmt: skip
    reply = await requester.send_request_and_wait("create-order", payload)
    assert reply["status"] == "created", reply
    order: dict[str, Any] = reply["order"]
    return order


async def publish_price(bus: Bus, asset: str, bid: str, ask: str, **extra: object) -> Entry:
    return await bus.publish(
        "price-update", {"asset": asset, "bid": bid, "ask": ask} | extra, str(uuid.uuid4())
    )


async def engine_answers(requester: Requester, engine: EngineProcess) -> None:
    """Wait until the engine process has started and answers requests."""

    async def answers() -> bool:
        assert engine.process is not None and engine.process.poll() is None, engine.log_tail()
        try:
            await requester.send_request_and_wait(
                "get-account", {"userId": str(uuid.uuid4())}, timeout_s=1.0
            )
        except RequestTimeoutError:
            return False
        return True

    await eventually(answers, 60, "the engine to answer")


@dataclass
class OrderLoad:
    """Clients creating orders for one trader without pause (under a failover: a timeout
    or a refusal is counted and retried); each acknowledged order with when it was."""

    requester: Requester
    trader: Trader
    acknowledged: list[tuple[float, str]] = field(default_factory=list)
    failures: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, clients: int = 3) -> None:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(clients)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _client(self) -> None:
        while not self._stop.is_set():
            try:
                order = await create_order(self.requester, self.trader, asset="SOL_USDC",
                                           qty="0.01")  # fmt: skip
            except (TimeoutError, AssertionError):
                self.failures += 1
                continue
            self.acknowledged.append((time.monotonic(), order["orderId"]))
            await asyncio.sleep(0.01)

    @property
    def order_ids(self) -> list[str]:
        return [order_id for _, order_id in self.acknowledged]


@dataclass
class TwoListening:
    """Alice and Bob, each following ``orders`` on the ws server with BTC_USDC quoted;
    ``ask`` sends one of Alice's commands and checks its reply's status."""

    requester: Requester
    alice: Trader
    bob: Trader
    alice_in: Inbox
    bob_in: Inbox

    async def ask(self, kind: str, status: str, **fields: object) -> dict[str, Any]:
        payload = {"userId": self.alice.user_id} | fields
        reply = await self.requester.send_request_and_wait(kind, payload)
        assert reply["status"] == status, reply
        return reply


async def two_listening(
    ws_server: WsProcess, engine: EngineProcess, requester: Requester, bus: Bus
) -> TwoListening:
    await engine_answers(requester, engine)
    alice, bob = [await register(requester) for _ in range(2)]
    alice_in = Inbox(await connect(f"{ws_server.url}?token={alice.token}"))
    bob_in = Inbox(await connect(f"{ws_server.url}?token={bob.token}"))
    for inbox in (alice_in, bob_in):
        await inbox.subscribe("orders")
    await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")
    return TwoListening(requester, alice, bob, alice_in, bob_in)


async def open_order_ids(requester: Requester, trader: Trader) -> set[str]:
    """Every open position of ``trader`` (the engine lists them page by page)."""
    ids: set[str] = set()
    after: str | None = None
    while True:
        payload: dict[str, Any] = {"userId": trader.user_id, "limit": 500}
        if after is not None:
            payload["after"] = after
        account = await requester.send_request_and_wait("get-account", payload)
        page = [order["orderId"] for order in account["orders"]]
        ids.update(page)
        if len(page) < 500:
            return ids
        after = page[-1]
