"""Benchmark of the WebSocket fan-out: ``tradepro ws`` on the real Redis, many clients.

``--ws-processes`` (default 2) ``python -m tradepro.cli ws`` processes run as children,
exactly as deployed with ``WS_PROCESSES`` (sharing one port), on the Redis at
``--redis-url`` with a bus namespace of its own (``bench-ws-<hex>:``, whose keys are deleted
at the end) and ``LOG_LEVEL=WARNING``; ``--price-rate`` sets their ``WS_PRICE_RATE_PER_S``
(quotes are conflated to at most that many per asset a second). ``--clients`` WebSocket
clients are spread over ``--client-processes`` processes (on uvloop when installed) so that
the client side does not become the bottleneck on 2 cores: by default a lean client
(``LightClient``: the handshake and its masked frames come from the ``websockets`` library's
helpers, the server's frames are parsed by hand, pings are answered); ``--client
websockets`` uses the library's own client, which took about twice the CPU per message here.
The lean client reads each price frame's ``ts`` in place in the bytes it was handed (no
copy of the payload, no JSON parse; other messages are parsed in full).
The client processes run under Linux's ``SCHED_BATCH`` policy (``--client-sched normal``
to not): they share the cores at the same weight as everything else, but a client process
woken by a server's write does not preempt that server in the middle of a price slot; it
runs when a core is free or at the next scheduler tick and then reads every socket that
became ready. On a real deployment the clients are other machines and never take the
server's cores; here they must, and this way they cost fewer context switches and less
CPU per message (``clients_switches_per_s``, ``clients_cpu_us_per_message``). What is
measured is the same: a quote's bus time to the moment a client process has it in hand,
whatever it waited for on the way.
Each client subscribes to the price channel of every asset and waits for the server's
``subscriptions`` reply; every ``--signed-in-every``-th client signs in (a session token of
a user of its own) and subscribes to ``orders`` too. Then this process publishes
``price-update`` entries on ``engine-stream`` with ``RedisBus.publish`` at ``--rate`` per
second in total, round-robin over the assets (a random walk in whole ticks with a spread of
1-5 ticks), for ``--duration-s`` seconds, and meanwhile ``--order-rate`` order events a
second (``created`` callbacks on ``callback-queue``, as the engine writes them) round-robin
over the signed-in users; then it waits ``--grace-s`` for the last messages.

Latency runs from the entry's bus time to the moment a client process has the message in
hand: each price message carries ``ts``, the time Redis gave the entry on ``XADD``
(milliseconds of its stream id, so every figure is rounded *up* by less than 1 ms), and
the client subtracts it from its own wall clock (same machine, same clock). p50/p99 are
over every price message every client received (with conflation, the quotes delivered:
the latest of each asset per slot). ``updates_per_s`` is the price messages one client
received per second, on average (at most ``--price-rate`` per asset); ``dropped`` is the
number of clients the server closed (every client here keeps up, so the target is 0);
``order_events_dropped`` is the order events published minus those the signed-in clients
received (never conflated: the target is 0). ``server_cpu_us_per_client_s`` is the ws
processes' CPU over the publishing phase per client: microseconds of CPU per client per
second; ``server_cpu_us_per_message`` and ``clients_cpu_us_per_message`` the two sides' CPU
per price message delivered (the figures to compare between runs on a machine whose other
load varies), ``server_switches_per_s`` and ``clients_switches_per_s`` their context
switches, and ``connections_per_ws_process`` how the kernel spread the clients over the
ws processes (each one's ``/health``). For the publishing phase the CPU used and the time
spent runnable but waiting for a CPU are reported for the server and the client processes
(percent of one core), with the machine's CPU pressure (Linux PSI): other work on the 2
cores shows there.

The last line is a JSON object ending with the keys ``clients, updates_per_s, p50_ms,
p99_ms, dropped``. Usage (from the repository root)::

    .venv/bin/python bench/ws_fanout.py                 # 1,000 clients, 50/s, 30 s
    .venv/bin/python bench/ws_fanout.py --clients 5000     # 3 client processes
    .venv/bin/python bench/ws_fanout.py --clients 100 --duration-s 5    # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import multiprocessing
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import orjson
import psutil
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.utils import accept_key

from _common import REPO, CpuMeter, free_port, percentile, say
from tradepro.bus.redis_bus import RedisBus
from tradepro.db.migrate import upgrade
from tradepro.domain.fixed import format_scaled
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.security.tokens import SESSION, issue, verify

REQUIRED_LAST = ("clients", "updates_per_s", "p50_ms", "p99_ms", "dropped")
TARGETS = {"p99_ms": ("<=", 100.0), "dropped": ("<=", 0), "order_events_dropped": ("<=", 0)}
START_TICKS = {"BTC_USDC": 1_000_000, "ETH_USDC": 350_000, "SOL_USDC": 18_000}
"""Starting bids in ticks: 100000.0, 3500.00 and 180.00 USD."""
JWT_SECRET = "bench-ws-jwt-secret-0123456789abcdef0123456789"  # noqa: S105 (a bench secret)


@dataclass(frozen=True)
class Options:
    clients: int
    assets: tuple[str, ...]
    rate: float
    duration_s: float
    grace_s: float
    client_processes: int
    send_queue: int
    redis_url: str
    client: str
    ws_processes: int
    price_rate: float | None
    signed_in_every: int
    order_rate: float
    client_sched: str


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--assets", default="BTC_USDC,ETH_USDC,SOL_USDC")
    parser.add_argument("--rate", type=float, default=50.0, help="price updates per second")
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--grace-s", type=float, default=2.0)
    parser.add_argument(
        "--client-processes", type=int, default=None,
        help="default: one per 2,000 clients, at least 2",
    )  # fmt: skip
    parser.add_argument("--send-queue", type=int, default=256)
    parser.add_argument("--ws-processes", type=int, default=2, help="WS_PROCESSES")
    parser.add_argument(
        "--price-rate", type=float, default=None,
        help="WS_PRICE_RATE_PER_S of the servers (default: theirs)",
    )  # fmt: skip
    parser.add_argument(
        "--signed-in-every", type=int, default=50,
        help="every n-th client signs in and subscribes to orders",
    )  # fmt: skip
    parser.add_argument("--order-rate", type=float, default=20.0, help="order events per second")
    parser.add_argument(
        "--client",
        choices=("light", "websockets"),
        default="light",
        help="light: the lean client below (default); websockets: the library's client",
    )
    parser.add_argument(
        "--client-sched",
        choices=("batch", "normal"),
        default="batch",
        help="the client processes' scheduling policy (see the module's docstring)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TRADEPRO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    args = parser.parse_args(argv)
    assets = tuple(asset.strip() for asset in args.assets.split(",") if asset.strip())
    unknown = [asset for asset in assets if asset not in START_TICKS]
    if unknown or not assets:
        parser.error(f"--assets: choose among {', '.join(START_TICKS)}")
    client_processes = max(1, args.client_processes or max(2, math.ceil(args.clients / 2000)))
    return Options(
        args.clients, assets, args.rate, args.duration_s, args.grace_s,
        client_processes, args.send_queue, args.redis_url, args.client,
        max(1, args.ws_processes), args.price_rate, max(1, args.signed_in_every),
        args.order_rate, args.client_sched,
    )  # fmt: skip


# -- the client processes ----------------------------------------------------------------


@lru_cache(maxsize=8192)
@lru_cache(maxsize=4096)
def bus_time_ms(ts: bytes) -> float:
    """``b"2024-01-01T00:00:00.123Z"`` in milliseconds since the epoch: parsed once per
    quote and client process, not once per client (every client gets the same ``ts``)."""
    return datetime.fromisoformat(ts.decode()).timestamp() * 1000.0


@dataclass
class ClientStats:
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    closed_by_server: Counter[int] = field(default_factory=Counter)
    subscribed: int = 0
    orders: int = 0
    stopping: bool = False


PRICE_PREFIX = b'{"type":"price",'
TS_FIELD = b'"ts":"'


def record(payload: bytes, received_ms: float, stats: ClientStats) -> None:
    """Keep a price message's latency; count ``subscriptions`` replies and order events. A
    price message is recognized by its first key and its ``ts`` found without a full parse
    (this server renders ``type`` first), which halves the client's cost per message."""
    if payload.startswith(PRICE_PREFIX):
        start = payload.index(TS_FIELD, len(PRICE_PREFIX)) + len(TS_FIELD)
        ts = payload[start : payload.index(b'"', start)]
        stats.latencies_ms.append(received_ms - bus_time_ms(ts))
        return
    record_other(payload, stats)


def record_other(payload: bytes, stats: ClientStats) -> None:
    """Count a message that is not a price: a ``subscriptions`` reply or an order event."""
    kind = orjson.loads(payload)["type"]
    if kind == "subscriptions":
        stats.subscribed += 1
    elif kind == "order":
        stats.orders += 1


class LightClient(asyncio.Protocol):
    """A lean WebSocket client, so that 1,000 of them cost little CPU next to the server.

    The handshake and this client's frames (masked, as a client's must be) are built with
    the ``websockets`` library's helpers; the server's frames are parsed here: text
    messages are recorded, pings are answered with pongs, a close frame is answered and
    its code kept.
    """

    def __init__(self, stats: ClientStats, subscribe: bytes, path: str) -> None:
        self.stats = stats
        self.subscribe = subscribe
        self.path = path
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.buffer = bytearray()
        self.open = False
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        received_ms = time.time() * 1000.0
        if self.open and not self.buffer:  # the usual case: whole frames, nothing left over
            rest = self.read_frames(data, received_ms)
            if rest:
                self.buffer += rest
            return
        self.buffer += data
        if not self.open:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode()
            del self.buffer[: end + 4]
            assert head.startswith("HTTP/1.1 101") and accept_key(self.key) in head, head
            self.open = True
            self.send(Opcode.TEXT, self.subscribe)
        rest = self.read_frames(bytes(self.buffer), received_ms)
        self.buffer[:] = rest

    def read_frames(self, data: bytes, received_ms: float) -> bytes:
        """Handle the whole frames in ``data``; returns the incomplete tail. A price frame's
        ``ts`` is read in place (no copy of its payload, no JSON parse): the cost per
        message of this client is what the machine's two cores share with the server."""
        position, size = 0, len(data)
        latencies, stats = self.stats.latencies_ms, self.stats
        while size - position >= 2:
            length, header = data[position + 1] & 0x7F, 2
            assert length != 127, "no server message is 64 KiB long"
            if length == 126:
                if size - position < 4:
                    break
                length, header = int.from_bytes(data[position + 2 : position + 4], "big"), 4
            start, end = position + header, position + header + length
            if end > size:
                break
            opcode = data[position] & 0x0F
            position = end
            if opcode == Opcode.TEXT:
                if data.startswith(PRICE_PREFIX, start):
                    ts_at = data.index(TS_FIELD, start, end) + len(TS_FIELD)
                    ts = data[ts_at : data.index(b'"', ts_at, end)]
                    latencies.append(received_ms - bus_time_ms(ts))
                else:
                    record_other(data[start:end], stats)
            elif opcode == Opcode.PING:
                self.send(Opcode.PONG, data[start:end])
            elif opcode == Opcode.CLOSE:
                payload = data[start:end]
                self.closed_by_server(int.from_bytes(payload[:2], "big") if payload else 1005)
        return data[position:]

    def send(self, opcode: Opcode, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(Frame(opcode, payload).serialize(mask=True))

    def closed_by_server(self, code: int) -> None:
        if not self.stats.stopping:
            self.stats.closed_by_server[code] += 1
        self.send(Opcode.CLOSE, code.to_bytes(2, "big"))
        assert self.transport is not None
        self.transport.close()
        self.open = False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open and not self.stats.stopping:
            self.stats.closed_by_server[1006] += 1  # dropped without a close frame
        self.open = False
        if not self.lost.done():
            self.lost.set_result(None)

    async def close(self) -> None:
        if self.open and self.transport is not None:
            self.send(Opcode.CLOSE, (1000).to_bytes(2, "big"))
            self.transport.close()
        await self.lost


async def open_light(
    port: int, token: str | None, assets: Sequence[str], stats: ClientStats,
    gate: asyncio.Semaphore,
) -> Callable[[], Awaitable[None]]:  # fmt: skip
    async with gate:
        loop = asyncio.get_running_loop()
        subscribed = stats.subscribed
        path = "/" if token is None else f"/?token={token}"
        subscribe = subscribe_message(assets, orders=token is not None)
        _, client = await loop.create_connection(
            lambda: LightClient(stats, subscribe, path), "127.0.0.1", port
        )
        while stats.subscribed == subscribed:  # the gate lets one reply in at a time
            await asyncio.sleep(0.001)
        return client.close


async def receive(connection: ClientConnection, stats: ClientStats) -> None:
    try:
        while True:
            payload = await connection.recv(decode=False)
            record(payload, time.time() * 1000.0, stats)
    except ConnectionClosed as closed:
        if not stats.stopping:
            code = closed.rcvd.code if closed.rcvd is not None else 1006
            stats.closed_by_server[code] += 1


async def open_library(
    port: int, token: str | None, assets: Sequence[str], stats: ClientStats,
    gate: asyncio.Semaphore,
) -> Callable[[], Awaitable[None]]:  # fmt: skip
    async with gate:
        url = f"ws://127.0.0.1:{port}/" + ("" if token is None else f"?token={token}")
        connection = await connect(url, compression=None, open_timeout=60, max_size=2**16)
        await connection.send(subscribe_message(assets, orders=token is not None), text=True)
        record(await connection.recv(decode=False), time.time() * 1000.0, stats)
    reader = asyncio.create_task(receive(connection, stats))

    async def close() -> None:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await connection.close()

    return close


def subscribe_message(assets: Sequence[str], *, orders: bool) -> bytes:
    channels = [f"prices.{asset}" for asset in assets] + (["orders"] if orders else [])
    return orjson.dumps({"type": "subscribe", "channels": channels})


async def run_clients(
    port: int, tokens: Sequence[str | None], assets: Sequence[str], kind: str, pipe: Connection
) -> None:
    """One client per entry of ``tokens`` (a session token, or None for prices only)."""
    stats = ClientStats()
    opener = open_light if kind == "light" else open_library
    gate = asyncio.Semaphore(1 if kind == "light" else 32)
    closers = await asyncio.gather(*(opener(port, token, assets, stats, gate) for token in tokens))
    pipe.send(("ready", stats.subscribed))
    await asyncio.to_thread(pipe.recv)  # "stop"
    stats.stopping = True
    await asyncio.gather(*(close() for close in closers), return_exceptions=True)
    pipe.send(("result", stats.latencies_ms.tobytes(), dict(stats.closed_by_server), stats.orders))


def client_process(
    port: int, tokens: Sequence[str | None], assets: Sequence[str], kind: str, pipe: Connection,
    *, sched: str,
) -> None:  # fmt: skip
    """A process of ``len(tokens)`` clients (the entry point of ``multiprocessing``)."""
    if sched == "batch":
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    try:
        import uvloop  # noqa: PLC0415 - optional: the clients' own CPU is not what is measured
    except ImportError:
        asyncio.run(run_clients(port, tokens, assets, kind, pipe))
    else:
        uvloop.run(run_clients(port, tokens, assets, kind, pipe))


# -- the server and the publisher --------------------------------------------------------


def start_servers(
    options: Options, port: int, namespace: str, data_dir: Path
) -> list[subprocess.Popen[bytes]]:
    """``--ws-processes`` servers on ``port`` (each its own process, as ``up`` runs them)."""
    env = {
        **os.environ,
        "REDIS_URL": options.redis_url,
        "TRADEPRO_BUS_NAMESPACE": namespace,
        "WS_PORT": str(port),
        "JWT_SECRET": JWT_SECRET,
        "ASSETS": ",".join(options.assets),
        "LOG_LEVEL": "WARNING",
        "TRADEPRO_DATA_DIR": str(data_dir),
        "DATABASE_URL": "",
        # Every client comes from 127.0.0.1: lift the per-address cap (a defence against one
        # host holding all connections) above the number of clients.
        "WS_MAX_CONNECTIONS_PER_ADDRESS": str(options.clients + 16),
        "WS_MAX_UNAUTHENTICATED": str(options.clients + 16),
        "WS_PROCESSES": str(options.ws_processes),
    }
    if options.price_rate is not None:
        env["WS_PRICE_RATE_PER_S"] = f"{options.price_rate:g}"
    command = [sys.executable, "-m", "tradepro.cli", "ws", "--send-queue", str(options.send_queue)]
    return [subprocess.Popen(command, env=env, cwd=REPO) for _ in range(options.ws_processes)]


def http_get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())
    except OSError:
        return 0, b""


async def wait_healthy(port: int, servers: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    """Until every server has answered ``/health`` 200 (requests reach one of them each,
    by the kernel's choice: ``pid`` says which)."""
    healthy: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for server in servers:
            if server.poll() is not None:
                raise RuntimeError(f"tradepro ws exited with code {server.returncode}")
        status, body = await asyncio.to_thread(http_get, port, "/health")
        if status == 200:
            healthy.add(orjson.loads(body)["pid"])
            if healthy == {server.pid for server in servers}:
                return
        else:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"tradepro ws did not become healthy within {timeout_s}s")


async def publish_orders(bus: RedisBus, options: Options, users: Sequence[str]) -> int:
    """``created`` callbacks at ``options.order_rate`` a second over the publishing phase,
    round-robin over ``users``; returns how many."""
    if not users or options.order_rate <= 0:
        return 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    total = int(options.order_rate * options.duration_s)
    for n in range(total):
        delay_s = started + n / options.order_rate - loop.time()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        order = {"orderId": str(uuid.uuid4()), "asset": options.assets[0], "side": "buy"}
        body = {"status": "created", "userId": users[n % len(users)], "order": order}
        await bus.publish_callbacks([orjson.dumps(body)])
    return total


async def publish_prices(bus: RedisBus, options: Options) -> int:
    """Publish at ``options.rate`` per second on a fixed schedule; returns how many."""
    rng = random.Random(7)
    bids = {asset: START_TICKS[asset] for asset in options.assets}
    loop = asyncio.get_running_loop()
    started = loop.time()
    total = int(options.rate * options.duration_s)
    for n in range(total):
        delay_s = started + n / options.rate - loop.time()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        asset = options.assets[n % len(options.assets)]
        bids[asset] += rng.randint(-3, 3)
        decimals = DEFAULT_INSTRUMENTS[asset].price_decimals
        bid, ask = bids[asset], bids[asset] + rng.randint(1, 5)
        payload = {"asset": asset, "bid": format_scaled(bid, decimals),
                   "ask": format_scaled(ask, decimals)}  # fmt: skip
        await bus.publish("price-update", payload, str(uuid.uuid4()))
    return total


def cpu_meter(server_pids: list[int], client_pids: list[int]) -> CpuMeter:
    """The shared meter over the servers and the client processes (as two groups)."""
    return CpuMeter(
        {
            "server": [psutil.Process(pid) for pid in server_pids],
            "clients": [psutil.Process(pid) for pid in client_pids],
        }
    )


def context_switches(pids: Sequence[int]) -> int:
    """Context switches so far (voluntary and not) of every thread of these processes."""
    total = 0
    for pid in pids:
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            try:
                lines = status.read_text().splitlines()
            except OSError:
                continue  # a thread that just ended
            total += sum(int(line.split()[1]) for line in lines if "ctxt_switches" in line)
    return total


async def connections_per_process(port: int, servers: Sequence[int]) -> list[int]:
    """Each server's open connections, by its ``/health`` (the kernel sends each request to
    one of them: asked until every one has answered)."""
    seen: dict[int, int] = {}
    for _ in range(200):
        status, body = await asyncio.to_thread(http_get, port, "/health")
        if status == 200:
            health = orjson.loads(body)
            seen[health["pid"]] = health["connections"]
            if len(seen) == len(servers):
                break
    return [seen.get(pid, -1) for pid in servers]


def cpu_figures(percent: dict[str, float]) -> dict[str, float]:
    """The meter's readings under this benchmark's keys: ``server_cpu_percent``,
    ``server_wait_percent``, the same for ``clients``, and ``psi_percent``."""
    return {
        (
            f"{name}_percent" if name == "psi" or name.endswith("_wait") else f"{name}_cpu_percent"
        ): value
        for name, value in percent.items()
    }


async def delete_namespace(redis_url: str, namespace: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(f"{namespace}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@dataclass
class ClientSide:
    processes: list[multiprocessing.process.BaseProcess]
    pipes: list[Connection]

    def stop(self) -> tuple[list[float], Counter[int], int]:
        """Every price latency, the close codes, and the order events received."""
        latencies: list[float] = []
        closed: Counter[int] = Counter()
        orders = 0
        for pipe in self.pipes:
            pipe.send("stop")
        for pipe in self.pipes:
            kind, raw, codes, received_orders = pipe.recv()
            assert kind == "result"
            samples: array[float] = array("d")
            samples.frombytes(raw)
            latencies.extend(samples)
            closed.update(codes)
            orders += received_orders
        for process in self.processes:
            process.join(30)
        return latencies, closed, orders

    def kill(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.kill()


def session_tokens(options: Options) -> list[str | None]:
    """Per client: a session token of a user of its own for every ``signed_in_every``-th,
    else None."""
    tokens: list[str | None] = []
    for n in range(options.clients):
        user_id = str(uuid.uuid4())
        signed_in = n % options.signed_in_every == 0
        tokens.append(
            issue(JWT_SECRET, SESSION, user_id, f"{user_id[:8]}@bench.test", 3600)[0]
            if signed_in
            else None
        )
    return tokens


async def start_clients(options: Options, port: int, tokens: list[str | None]) -> ClientSide:
    context = multiprocessing.get_context("spawn")
    per_process = options.client_processes
    shares = [tokens[n::per_process] for n in range(per_process)]
    side = ClientSide([], [])
    for share in shares:
        ours, theirs = context.Pipe()
        process = context.Process(
            target=client_process,
            args=(port, share, options.assets, options.client, theirs),
            kwargs={"sched": options.client_sched},
        )
        process.start()
        side.processes.append(process)
        side.pipes.append(ours)
    for pipe, share in zip(side.pipes, shares, strict=True):
        kind, connected = await asyncio.to_thread(pipe.recv)
        assert (kind, connected) == ("ready", len(share)), (kind, connected)
    return side


async def measure(
    options: Options, port: int, namespace: str, servers: list[subprocess.Popen[bytes]]
) -> dict[str, Any]:
    await wait_healthy(port, servers, 60)
    tokens = session_tokens(options)
    users = [verify(JWT_SECRET, token, SESSION).user_id for token in tokens if token is not None]
    connect_started = time.perf_counter()
    clients = await start_clients(options, port, tokens)
    say(f"{options.clients} clients connected and subscribed in "
        f"{time.perf_counter() - connect_started:.1f}s ({len(users)} signed in)")  # fmt: skip
    try:
        bus = RedisBus(options.redis_url, namespace=namespace)
        pids = [process.pid for process in clients.processes if process.pid is not None]
        server_pids = [server.pid for server in servers]
        split = await connections_per_process(port, server_pids)
        say(f"connections per ws process: {split}")
        meter = cpu_meter(server_pids, pids)
        switches = {"server": context_switches(server_pids), "clients": context_switches(pids)}
        wall_before = time.perf_counter()
        try:
            say(f"publishing {options.rate:g} updates/s over {len(options.assets)} assets and "
                f"{options.order_rate:g} order events/s for {options.duration_s:g}s")  # fmt: skip
            published, orders_sent = await asyncio.gather(
                publish_prices(bus, options), publish_orders(bus, options, users)
            )
        finally:
            await bus.close()
        publish_s = time.perf_counter() - wall_before
        percent = meter.percent()
        switches = {
            name: (context_switches(server_pids if name == "server" else pids) - before) / publish_s
            for name, before in switches.items()
        }
        cpu = cpu_figures(percent)
        await asyncio.sleep(options.grace_s)
        latencies, closed, orders_received = await asyncio.to_thread(clients.stop)
    finally:
        clients.kill()
    latencies.sort()
    received = len(latencies)
    return {
        "ws_processes": options.ws_processes,
        "price_rate_per_s": options.price_rate,
        "published": published,
        "received_messages": received,
        "messages_per_s": round(received / publish_s),
        "connections_per_ws_process": split,
        **cpu,
        "server_cpu_us_per_client_s": round(percent["server"] / 100 * 1e6 / options.clients, 1),
        "server_cpu_us_per_message": round(percent["server"] / 100 * 1e6 * publish_s / received, 2),
        "clients_cpu_us_per_message": round(
            percent["clients"] / 100 * 1e6 * publish_s / received, 2
        ),
        "server_switches_per_s": round(switches["server"]),
        "clients_switches_per_s": round(switches["clients"]),
        "p90_ms": round(percentile(latencies, 0.90), 2),
        "max_ms": round(percentile(latencies, 1.0), 2),
        "close_codes": {str(code): count for code, count in sorted(closed.items())},
        "order_events_sent": orders_sent,
        "order_events_dropped": orders_sent - orders_received,
        "loadavg_end": [round(value, 2) for value in os.getloadavg()],
        "clients": options.clients,
        "updates_per_s": round(received / options.clients / publish_s, 2),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "dropped": sum(closed.values()),
    }


async def run(options: Options) -> dict[str, Any]:
    namespace = f"bench-ws-{uuid.uuid4().hex[:12]}:"
    port = free_port()
    say(f"load average at the start {[round(v, 2) for v in os.getloadavg()]}; "
        f"namespace {namespace}, port {port}")  # fmt: skip
    # The servers read the signed-out sessions from a database: a migrated SQLite file of
    # their own (no session here is ever signed out), never one in the working folder.
    data_dir = Path(tempfile.mkdtemp(prefix="ws-fanout-"))
    await upgrade(f"sqlite:///{data_dir / 'tradepro.db'}")
    servers = start_servers(options, port, namespace, data_dir)
    try:
        results = await measure(options, port, namespace, servers)
    finally:
        for server in servers:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                code = await asyncio.to_thread(server.wait, 30)
                say(f"tradepro ws (pid {server.pid}) exited with code {code} after SIGTERM")
            except subprocess.TimeoutExpired:
                server.kill()
        await delete_namespace(options.redis_url, namespace)
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def raise_file_limit(needed: int) -> None:
    """Each client and each server connection is a file descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    raise_file_limit(2 * options.clients + 256)
    try:
        results = asyncio.run(run(options))
    except KeyboardInterrupt:
        say("interrupted; cleaned up")
        return 130
    missed = [
        name for name, (_, limit) in TARGETS.items() if not results[name] <= limit
    ]  # both targets are upper bounds
    for name, (sense, limit) in TARGETS.items():
        verdict = "MISSED" if name in missed else "ok"
        say(f"{name} = {results[name]} (target {sense} {limit:g}): {verdict}")
    extra = {k: v for k, v in results.items() if k not in REQUIRED_LAST}
    line = extra | {"targets_missed": missed} | {k: results[k] for k in REQUIRED_LAST}
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
