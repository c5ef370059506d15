"""HTTP load on the whole stack against a bare authenticated FastAPI endpoint.

Starts, on the real Redis and PostgreSQL (a fresh database, a private stream namespace):
``tradepro engine`` and ``tradepro api`` as processes, and the bare endpoint
(``_bare_api.py``: one authenticated FastAPI endpoint, nothing behind it, the same uvicorn
settings); signs up ``--users`` users (64) and publishes a quote (refreshed every second).
Then, with all users signed in at once:

1. Saturation (closed loop): each user places a create-order as soon as its previous one
   is answered; in alternating windows (``--rounds`` of each, ``--duration-s`` in all per
   endpoint) the same users call the bare endpoint the same way, so a noisy spell of this
   shared machine weighs on both figures alike. ``create_per_s`` and ``bare_per_s`` are
   the completed rates; the latency figures of this phase are ``*_saturated``: with 64
   users always waiting, the mean latency is 64 / rate by Little's law, so they measure
   throughput, not responsiveness. ``create_cpu_us`` and ``bare_cpu_us``: each process's
   CPU per completed request (the client is this process).
2. Latency under load (open loop): for ``--duration-s`` the users place create-orders on
   a fixed schedule adding up to ``--load`` x the saturated rate (default 0.5: half of
   what the stack can take), each user on its own staggered schedule. Each latency runs
   from the moment the order was *due* (not when it could be sent), so a stall is charged
   to every order it delays (no coordinated omission). These are ``create_p50_ms`` and
   ``create_p99_ms``.
3. Close and read (closed loop): each user closes its positions one by one (close-order
   returns once the trade is in the history), every 4th round also reading
   get-close-orders and balance/me: ``mixed_rounds_per_s`` and ``mixed_p99_ms``.

4. A heavy reader (``--heavy-positions``, 5,000): one user opens that many positions, then
   another user places create-orders on a schedule (``--heavy-rate``, 50/s) for
   ``--duration-s``, in ``--rounds`` windows alone (``quiet_create_p99_ms``) alternating
   with as many while the heavy user polls ``--heavy-polls`` times a second (16, as a bot
   was seen to; 0: flat out, one request at a time), each poll one page of
   get-open-orders (500, walking the pages by ``nextCursor``) and balance/me
   (``heavy_create_p99_ms``; ``heavy_reads_per_s`` counts both). ``heavy_ratio`` = heavy
   p99 / quiet p99 (target <= 2).
   ``--only-heavy`` runs this phase alone. ``--heavy-read-limit`` (with ``--only-heavy``)
   keeps the API's default read limits (``READ_LIMIT_PER_S`` per account) instead of
   lifting them, and the reader goes on past its 429s as an abuser would: what the limit
   leaves of a flat-out reader (``heavy_refused_per_s`` counts the refused reads).

``ratio_to_bare`` = ``create_per_s`` / ``bare_per_s`` (both at saturation). Both servers
are single processes; the load generator runs in this process (so it shares the 2 cores
with everything else). Last line: JSON with create_per_s, create_p50_ms, create_p99_ms,
bare_per_s, ratio_to_bare (and the figures above).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import orjson
import psutil
from redis.asyncio import Redis

from _common import REPO, CpuMeter, cpu_text, free_port, percentile, process, wait_http
from tradepro.bus.redis_bus import RedisBus
from tradepro.security.tokens import SESSION, issue

SECRET = "bench-secret-" + uuid.uuid4().hex


async def service_processes(
    redis_url: str, children: dict[str, subprocess.Popen[bytes]]
) -> dict[str, psutil.Process | list[psutil.Process] | None]:
    """The processes a phase's CPU is split between: the benchmark (the load generator),
    our services, Redis, and every PostgreSQL process (its backends included)."""
    raw = Redis.from_url(redis_url)
    try:
        redis: psutil.Process | None = psutil.Process(int((await raw.info("server"))["process_id"]))
    except (psutil.Error, KeyError, ValueError):
        redis = None
    finally:
        await raw.aclose()
    postgres = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
    return {
        "client": psutil.Process(),
        **{name: psutil.Process(child.pid) for name, child in children.items()},
        "redis": redis,
        "postgres": postgres,
    }


@contextlib.contextmanager
def client_gc_paused() -> Iterator[None]:
    """Keeps the load generator's own garbage collections out of the figures.

    Its heap (every latency and order id so far, aiohttp's state) grows to hundreds of
    thousands of objects; a full collection then stalls the generator for 25-100 ms, which
    showed up as server latency in the open-loop p99. A phase allocates little that a
    reference count does not free, so collections wait until it ends."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def drive(
    users: list[tuple[str, str]],
    duration_s: float,
    round_trip: Callable[[aiohttp.ClientSession, dict[str, str], int], Awaitable[None]],
    base_url: str,
) -> list[float]:
    """Each user loops ``round_trip`` for ``duration_s``; returns each round's latency (s).

    The load generator is aiohttp: httpx costs about 1 ms of client CPU per request here,
    which made the client, not the server, the bottleneck."""
    latencies: list[float] = []
    stop_at = time.monotonic() + duration_s
    connector = aiohttp.TCPConnector(limit=len(users) + 8)
    async with aiohttp.ClientSession(base_url, connector=connector) as client:

        async def user_loop(token: str) -> None:
            headers = {"authorization": f"Bearer {token}"}
            rounds = 0
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                await round_trip(client, headers, rounds)
                latencies.append(time.perf_counter() - started)
                rounds += 1

        with client_gc_paused():
            await asyncio.gather(*(user_loop(token) for _, token in users))
    return latencies


async def drive_on_schedule(
    users: list[tuple[str, str]],
    duration_s: float,
    rate_per_s: float,
    round_trip: Callable[[aiohttp.ClientSession, dict[str, str], int], Awaitable[None]],
    base_url: str,
) -> list[float]:
    """Open loop: the users together start ``rate_per_s`` rounds per second, each user on
    its own schedule (staggered), whether or not its earlier rounds have been answered.
    Each latency runs from when the round was due, so a stall counts for every round it
    held back (no coordinated omission)."""
    latencies: list[float] = []
    interval_s = len(users) / rate_per_s
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base_url, connector=connector) as client:
        start = time.perf_counter() + 0.1
        rounds: list[asyncio.Task[None]] = []

        async def one(headers: dict[str, str], due: float, n: int) -> None:
            await round_trip(client, headers, n)
            latencies.append(time.perf_counter() - due)

        async def user_loop(index: int, token: str) -> None:
            headers = {"authorization": f"Bearer {token}"}
            due = start + index * interval_s / len(users)
            n = 0
            while due < start + duration_s:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                rounds.append(asyncio.create_task(one(headers, due, n)))
                due += interval_s
                n += 1

        with client_gc_paused():
            await asyncio.gather(*(user_loop(i, token) for i, (_, token) in enumerate(users)))
            await asyncio.gather(*rounds)
    return latencies


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


JSON_BODY = {"content-type": "application/json"}


async def call(
    client: aiohttp.ClientSession, method: str, path: str, headers: dict[str, str],
    body: bytes | None = None,
) -> Any:  # fmt: skip
    """One request; ``body`` is JSON already encoded (the generator encodes each distinct
    body once, as load tools do: its CPU is not what is measured). Same code for the
    stack and the bare endpoint."""
    if body is not None:
        headers = headers | JSON_BODY
    async with client.request(method, path, data=body, headers=headers) as response:
        payload = orjson.loads(await response.read())
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {payload}")
        return payload


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="tradepro-api-load-"))
    database = f"tradepro_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(args.postgres)
    await admin.execute(f'CREATE DATABASE "{database}"')
    namespace = f"bench-{uuid.uuid4().hex[:8]}:"
    api_port, bare_port = free_port(), free_port()
    env = {
        "REDIS_URL": args.redis,
        "DATABASE_URL": args.postgres.rsplit("/", 1)[0] + f"/{database}",
        "TRADEPRO_BUS_NAMESPACE": namespace,
        "TRADEPRO_DATA_DIR": str(work),
        "JWT_SECRET": SECRET,
        "API_PORT": str(api_port),
        "STARTING_BALANCE": "100000000.00",
        "LOG_LEVEL": "WARNING",
        "SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR": "100000",
        "ORDER_LIMIT_PER_S": "100000",
    }
    if not args.heavy_read_limit:
        env |= {"READ_LIMIT_PER_S": "100000", "READ_BURST": "100000"}
    cli = [sys.executable, "-m", "tradepro.cli"]
    bus = RedisBus(args.redis, namespace=namespace)
    result: dict[str, Any] = {}
    bare_command = [
        sys.executable, "-m", "uvicorn", "_bare_api:app", "--app-dir", str(REPO / "bench"),
        "--port", str(bare_port), "--log-level", "warning", "--no-access-log",
        "--http", "tradepro.api.server:GuardedHttpToolsProtocol",  # as tradepro api's
    ]  # fmt: skip
    try:
        with (
            process([*cli, "engine"], env, work / "engine.log") as engine,
            process([*cli, "api"], env, work / "api.log") as api,
            process(bare_command, env, work / "bare.log") as bare_server,
        ):
            base = f"http://127.0.0.1:{api_port}"
            bare_base = f"http://127.0.0.1:{bare_port}"
            await wait_http(f"{base}/health")
            await wait_http(f"{bare_base}/docs")
            print(f"stack up: api on {api_port}, bare endpoint on {bare_port}", flush=True)
            users = await sign_up(base, args.users, env["DATABASE_URL"])
            print(f"{len(users)} users signed up", flush=True)
            quoting = asyncio.create_task(keep_quoting(bus))

            order = orjson.dumps(
                {"asset": "BTC_USDC", "side": "buy", "qty": "0.001", "leverage": 10}
            )
            opened: dict[str, list[str]] = {}

            async def create(
                client: aiohttp.ClientSession, headers: dict[str, str], n: int
            ) -> None:
                created = await call(client, "POST", "/api/v1/trade/create-order", headers, order)
                opened.setdefault(headers["authorization"], []).append(created["orderId"])

            async def bare(client: aiohttp.ClientSession, headers: dict[str, str], n: int) -> None:
                await call(client, "POST", "/bare", headers)

            await first_quote_applied(base, users[0][1])
            if args.only_heavy:
                result |= await heavy_reader(users, base, create, args)
                return result
            await drive(users[:4], 2, create, base)  # warm up
            await drive(users[:4], 1, bare, bare_base)
            stack = await service_processes(args.redis, {"api": api, "engine": engine})
            bare_only = await service_processes(args.redis, {"bare": bare_server})
            phases = {
                "create": Saturation(create, base, stack),
                "bare": Saturation(bare, bare_base, bare_only),
            }
            window_s = args.duration_s / args.rounds
            for round_ in range(args.rounds):
                for name, phase in phases.items():
                    await phase.window(users, window_s)
                    print(f"saturation round {round_ + 1}, {name}: {phase.text()}", flush=True)
            creating, baseline = phases["create"], phases["bare"]
            result["create_per_s"] = round(creating.per_s, 1)
            result["create_p50_ms_saturated"] = ms(statistics.median(creating.latencies))
            result["create_p99_ms_saturated"] = ms(percentile(creating.latencies, 0.99))
            result["create_cpu_us"] = creating.cpu_us()
            result["bare_per_s"] = round(baseline.per_s, 1)
            result["bare_p50_ms_saturated"] = ms(statistics.median(baseline.latencies))
            result["bare_cpu_us"] = baseline.cpu_us()

            rate = args.load * result["create_per_s"]
            latencies = await drive_on_schedule(users, args.duration_s, rate, create, base)
            result["latency_load_per_s"] = round(rate, 1)
            result["create_p50_ms"] = ms(statistics.median(latencies))
            result["create_p99_ms"] = ms(percentile(latencies, 0.99))
            result["create_max_ms"] = ms(max(latencies))
            print(f"latency at {rate:.0f} orders/s: {result}", flush=True)

            async def close_and_read(
                client: aiohttp.ClientSession, headers: dict[str, str], n: int
            ) -> None:
                mine = opened.get(headers["authorization"])
                if not mine:
                    await create(client, headers, n)
                    return
                closing = orjson.dumps({"orderId": mine.pop()})
                await call(client, "POST", "/api/v1/trade/close-order", headers, closing)
                if n % 4 == 0:
                    await call(client, "GET", "/api/v1/trade/get-close-orders", headers)
                    await call(client, "GET", "/api/v1/balance/me", headers)

            started = time.monotonic()
            latencies = await drive(users, args.duration_s, close_and_read, base)
            elapsed = time.monotonic() - started
            result["mixed_rounds_per_s"] = round(len(latencies) / elapsed, 1)
            result["mixed_p99_ms"] = ms(percentile(latencies, 0.99))
            print(f"close and read: {result}", flush=True)
            result |= await heavy_reader(users, base, create, args)  # quotes kept fresh
            quoting.cancel()
    finally:
        await bus.close()
        raw = Redis.from_url(args.redis)
        keys = [key async for key in raw.scan_iter(f"{namespace}*")]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    result["users"] = args.users
    result["load_average"] = os.getloadavg()[0]
    # The figures the targets are about come last.
    headline: tuple[str, ...] = ("quiet_create_p99_ms", "heavy_create_p99_ms", "heavy_ratio")
    if not args.only_heavy:
        result["ratio_to_bare"] = round(result["create_per_s"] / result["bare_per_s"], 3)
        headline = ("create_per_s", "create_p50_ms", "create_p99_ms", "bare_per_s",
                    "ratio_to_bare", *headline)  # fmt: skip
    return {k: v for k, v in result.items() if k not in headline} | {k: result[k] for k in headline}


async def heavy_reader(
    users: list[tuple[str, str]],
    base: str,
    create: Callable[[aiohttp.ClientSession, dict[str, str], int], Awaitable[None]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Phase 4: another user's create-order p99, alone and beside a heavy reader."""
    (_, heavy), measured = users[-1], users[:1]
    small = orjson.dumps({"asset": "BTC_USDC", "side": "buy", "qty": "0.00001", "leverage": 100})
    headers = {"authorization": f"Bearer {heavy}"}
    async with aiohttp.ClientSession(base) as client:
        path = "/api/v1/trade/create-order"
        for start in range(0, args.heavy_positions, 100):
            count = min(100, args.heavy_positions - start)
            opening = [call(client, "POST", path, headers, small) for _ in range(count)]
            await asyncio.gather(*opening)
    print(f"heavy reader: {args.heavy_positions} positions open", flush=True)
    window_s, rate = args.duration_s / args.rounds, args.heavy_rate
    await drive_on_schedule(measured, 2, rate, create, base)  # warm up
    reads, refused, polling_s = 0, 0, 0.0

    async def read(client: aiohttp.ClientSession, path: str) -> Any:
        """One read; None when refused by the read limit (only with --heavy-read-limit)."""
        nonlocal reads, refused
        async with client.get(path, headers=headers) as response:
            payload = orjson.loads(await response.read())
        if response.status == 429 and args.heavy_read_limit:
            refused += 1
            return None
        if response.status >= 400:
            raise RuntimeError(f"GET {path}: {response.status} {payload}")
        reads += 1
        return payload

    async def poll(stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession(base) as client:
            cursor: str | None = None
            due = time.perf_counter()
            while not stop.is_set():
                if args.heavy_polls > 0:
                    due += 1 / args.heavy_polls
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                query = "?limit=500" + (f"&cursor={cursor}" if cursor else "")
                page = await read(client, f"/api/v1/trade/get-open-orders{query}")
                if page is not None:
                    cursor = page["nextCursor"]
                await read(client, "/api/v1/balance/me")

    # Quiet and heavy windows alternate, so a noisy spell of the machine weighs on both.
    quiet: list[float] = []
    loaded: list[float] = []
    for _ in range(args.rounds):
        quiet += await drive_on_schedule(measured, window_s, rate, create, base)
        stop = asyncio.Event()
        polling = asyncio.create_task(poll(stop))
        await asyncio.sleep(0.5)  # the reader at its pace first
        started = time.monotonic()
        loaded += await drive_on_schedule(measured, window_s, rate, create, base)
        polling_s += time.monotonic() - started + 0.5
        stop.set()
        await polling
    reads_per_s = reads / polling_s
    figures = {
        "heavy_positions": args.heavy_positions,
        "heavy_polls_per_s": args.heavy_polls,
        "heavy_reads_per_s": round(reads_per_s, 1),
        "heavy_refused_per_s": round(refused / polling_s, 1),
        "heavy_read_limit": "default" if args.heavy_read_limit else "lifted",
        "quiet_create_p50_ms": ms(statistics.median(quiet)),
        "heavy_create_p50_ms": ms(statistics.median(loaded)),
        "quiet_create_p99_ms": ms(percentile(quiet, 0.99)),
        "heavy_create_p99_ms": ms(percentile(loaded, 0.99)),
    }
    ratio = figures["heavy_create_p99_ms"] / figures["quiet_create_p99_ms"]
    figures["heavy_ratio"] = round(ratio, 2)
    print(f"heavy reader: {figures}", flush=True)
    return figures


class Saturation:
    """One closed-loop measurement, taken in windows that alternate with the other's (so a
    noisy spell of the machine weighs on both alike): rate, latencies, CPU per request."""

    def __init__(
        self,
        round_trip: Callable[[aiohttp.ClientSession, dict[str, str], int], Awaitable[None]],
        base_url: str,
        processes: dict[str, psutil.Process | list[psutil.Process] | None],
    ) -> None:
        self.round_trip = round_trip
        self.base_url = base_url
        self.processes = processes
        self.latencies: list[float] = []
        self.elapsed_s = 0.0
        self.cpu_s: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._last_rate = 0.0

    async def window(self, users: list[tuple[str, str]], duration_s: float) -> None:
        meter = CpuMeter(self.processes)
        started = time.monotonic()
        latencies = await drive(users, duration_s, self.round_trip, self.base_url)
        elapsed = time.monotonic() - started
        self._last = meter.percent()
        for name, share in self._last.items():
            self.cpu_s[name] = self.cpu_s.get(name, 0.0) + share / 100 * elapsed
        self.latencies += latencies
        self.elapsed_s += elapsed
        self._last_rate = len(latencies) / elapsed

    @property
    def per_s(self) -> float:
        return len(self.latencies) / self.elapsed_s

    def cpu_us(self) -> dict[str, float]:
        """Each process's CPU per completed request, in microseconds."""
        return {
            name: round(seconds / len(self.latencies) * 1e6)
            for name, seconds in self.cpu_s.items()
            if not name.endswith("_wait") and name != "psi"
        }

    def text(self) -> str:
        return f"{self._last_rate:,.0f}/s; CPU {cpu_text(self._last)}"


async def sign_up(base: str, count: int, database_url: str) -> list[tuple[str, str]]:
    """Sign up through the API (which registers each user with the engine); mint sessions
    for them with the deployment's secret instead of reading the e-mailed links."""
    emails = [f"bench{index}-{uuid.uuid4().hex[:6]}@example.com" for index in range(count)]
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for email in emails:
            (await client.post("/api/v1/auth/signup", json={"email": email})).raise_for_status()
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT id, email FROM users WHERE email = ANY($1)", emails)
    finally:
        await connection.close()
    return [
        (str(row["id"]), issue(SECRET, SESSION, str(row["id"]), row["email"], 3600)[0])
        for row in rows
    ]


async def first_quote_applied(base: str, token: str, timeout_s: float = 30) -> None:
    """Wait until the engine has applied the first quote (an order then opens)."""
    order = {"asset": "BTC_USDC", "side": "buy", "qty": "0.001", "leverage": 10}
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while time.monotonic() < deadline:
            response = await client.post(
                "/api/v1/trade/create-order",
                json=order,
                headers={"authorization": f"Bearer {token}"},
            )
            if response.status_code == 200:
                return
            if response.json().get("error") != "no_price":
                response.raise_for_status()
            await asyncio.sleep(0.05)
    raise TimeoutError("the engine has no price after the first quote")


async def keep_quoting(bus: RedisBus) -> None:
    while True:
        await bus.publish(
            "price-update",
            {"asset": "BTC_USDC", "bid": "95000.0", "ask": "95000.5"},
            str(uuid.uuid4()),
        )
        await asyncio.sleep(1.0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--duration-s", type=float, default=15.0, help="per phase")
    parser.add_argument(
        "--rounds", type=int, default=3, help="saturation windows per endpoint, alternating"
    )
    parser.add_argument(
        "--load", type=float, default=0.5, help="latency phase rate, x the saturated rate"
    )
    parser.add_argument("--heavy-positions", type=int, default=5000)
    parser.add_argument(
        "--heavy-rate", type=float, default=50.0, help="the measured user's orders per second"
    )
    parser.add_argument(
        "--heavy-polls",
        type=float,
        default=16.0,
        help="the heavy reader's polls a second (0: flat out)",
    )
    parser.add_argument("--only-heavy", action="store_true", help="run the heavy-reader phase only")
    parser.add_argument(
        "--heavy-read-limit",
        action="store_true",
        help="keep the API's default read limits (with --only-heavy; see the module)",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    arguments = parser.parse_args()
    if arguments.heavy_read_limit and not arguments.only_heavy:
        parser.error("--heavy-read-limit needs --only-heavy (the other phases read flat out)")
    outcome = asyncio.run(main(arguments))
    print(json.dumps(outcome))
