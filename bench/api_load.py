"""HTTP load on the whole stack against a bare authenticated FastAPI endpoint.

Starts, on the real Redis and PostgreSQL (a fresh database, a private stream namespace):
``tradepro engine`` and ``tradepro api`` as processes, signs up ``--users`` users (64),
publishes a quote (refreshed every second), then for ``--duration-s`` each user loops:
create-order (timed), every 4th round a get-open-orders, then close-order. In the same
run it measures ``_bare_api.py`` (one authenticated endpoint, nothing behind it) served by
the same uvicorn settings, driven the same way. Both servers are single processes; the
load generator runs in this process (so it shares the 2 cores with everything else).

Last line: JSON with create_per_s, create_p50_ms, create_p99_ms, bare_per_s, ratio_to_bare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
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
from redis.asyncio import Redis

from tradepro.api.security import SESSION, issue
from tradepro.bus.redis_bus import RedisBus

REPO = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextlib.contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        child = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        )
        try:
            yield child
        finally:
            child.terminate()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()


async def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not come up")


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

        await asyncio.gather(*(user_loop(token) for _, token in users))
    return latencies


async def call(
    client: aiohttp.ClientSession, method: str, path: str, headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    async with client.request(method, path, json=body, headers=headers) as response:
        payload = await response.json()
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
    cli = [sys.executable, "-m", "tradepro.cli"]
    bus = RedisBus(args.redis, namespace=namespace)
    result: dict[str, Any] = {}
    try:
        with (
            process([*cli, "engine"], env, work / "engine.log"),
            process([*cli, "api"], env, work / "api.log"),
        ):
            base = f"http://127.0.0.1:{api_port}"
            await wait_http(f"{base}/health")
            print(f"stack up: api on {api_port}", flush=True)
            users = await sign_up(base, args.users, env["DATABASE_URL"])
            print(f"{len(users)} users signed up", flush=True)
            quoting = asyncio.create_task(keep_quoting(bus))

            create_latencies: list[float] = []

            async def timed_trade(
                client: aiohttp.ClientSession, headers: dict[str, str], n: int
            ) -> None:
                started = time.perf_counter()
                order = {"asset": "BTC_USDC", "side": "buy", "qty": "0.001", "leverage": 10}
                created = await call(client, "POST", "/api/v1/trade/create-order", headers, order)
                create_latencies.append(time.perf_counter() - started)
                if n % 4 == 0:
                    await call(client, "GET", "/api/v1/trade/get-open-orders", headers)
                closing = {"orderId": created["orderId"]}
                await call(client, "POST", "/api/v1/trade/close-order", headers, closing)

            await drive(users[:4], 2, timed_trade, base)  # warm up
            create_latencies.clear()
            started = time.monotonic()
            await drive(users, args.duration_s, timed_trade, base)
            elapsed = time.monotonic() - started
            quoting.cancel()
            result["create_per_s"] = round(len(create_latencies) / elapsed, 1)
            result["create_p50_ms"] = round(statistics.median(create_latencies) * 1000, 2)
            result["create_p99_ms"] = round(percentile(create_latencies, 0.99) * 1000, 2)
            result["round_trips"] = len(create_latencies)
            print(f"stack: {result}", flush=True)

        with process(
            [sys.executable, "-m", "uvicorn", "_bare_api:app", "--app-dir", str(REPO / "bench"),
             "--port", str(bare_port), "--log-level", "warning", "--no-access-log"],
            env, work / "bare.log",
        ):  # fmt: skip
            bare_base = f"http://127.0.0.1:{bare_port}"
            await wait_http(f"{bare_base}/docs")

            async def bare(client: aiohttp.ClientSession, headers: dict[str, str], n: int) -> None:
                await call(client, "POST", "/bare", headers)

            await drive(users[:4], 1, bare, bare_base)
            started = time.monotonic()
            latencies = await drive(users, args.duration_s, bare, bare_base)
            elapsed = time.monotonic() - started
            result["bare_per_s"] = round(len(latencies) / elapsed, 1)
            result["bare_p50_ms"] = round(statistics.median(latencies) * 1000, 2)
    finally:
        await bus.close()
        raw = Redis.from_url(args.redis)
        keys = [key async for key in raw.scan_iter(f"{namespace}*")]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    result["ratio_to_bare"] = round(result["create_per_s"] / result["bare_per_s"], 3)
    result["users"] = args.users
    result["load_average"] = os.getloadavg()[0]
    return result


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
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    outcome = asyncio.run(main(parser.parse_args()))
    print(json.dumps(outcome))
