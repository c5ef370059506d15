"""``X-Forwarded-For`` counts only when a configured proxy sends it (``TRUSTED_PROXIES``).

Once uvicorn believed it from 127.0.0.1 by default: a client on the same machine (or
anything behind a local proxy that passes the header through) rotated it and never hit
the per-address sign-up limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.support.api import API, JWT_SECRET, Stack, assert_error, new_email
from tests.support.servers import free_port
from tests.support.stack import EngineProcess, ServiceProcess, eventually
from tradepro.db.migrate import upgrade

pytestmark = pytest.mark.integration

LIMIT = 2


def post(url: str, body: object, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(  # noqa: S310 (a local URL)
        url,
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json"} | headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), orjson.loads(error.read())


def health(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


@contextlib.contextmanager
def running(processes: list[ServiceProcess]) -> Iterator[None]:
    for process in processes:
        process.start()
    try:
        yield
    finally:
        for process in processes:
            process.close()


async def test_a_rotated_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    """The real ``tradepro api`` (uvicorn as the command starts it) and engine processes on
    the embedded default; the test is a client on 127.0.0.1 that is no configured proxy."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    await upgrade(f"sqlite:///{data_dir / 'tradepro.db'}")
    port = free_port()
    env = {
        "TRADEPRO_DATA_DIR": str(data_dir), "REDIS_URL": "", "DATABASE_URL": "",
        "JWT_SECRET": JWT_SECRET, "API_PORT": str(port), "SMTP_URL": "",
        "SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR": str(LIMIT), "TRUSTED_PROXIES": "",
    }  # fmt: skip
    api = ServiceProcess("api", env, tmp_path / "api.log")
    engine = EngineProcess(env, tmp_path / "engine.log")
    url = f"http://127.0.0.1:{port}"
    with running([engine, api]):

        async def healthy() -> bool:
            assert api.alive(), api.log_tail()
            return await asyncio.to_thread(health, url) == 200

        await eventually(healthy, 60, "the api to answer /health")
        answers = [
            await asyncio.to_thread(
                post,
                f"{url}{API}/auth/signup",
                {"email": new_email()},
                {"X-Forwarded-For": f"203.0.113.{attempt}"},
            )
            for attempt in range(LIMIT + 1)
        ]
    assert [status for status, _ in answers] == [200] * LIMIT + [429], answers
    assert answers[-1][1]["error"] == "rate_limited"


@pytest.mark.stack_settings(trusted_proxies=("127.0.0.0/8",), signup_limit_per_address_per_hour=2)
async def test_a_trusted_proxy_names_the_client(embedded: Stack) -> None:
    """Behind our own proxy (the test client is 127.0.0.1) each forwarded client has its
    own count; the entries a client wrote itself, left of what the proxy saw, count not."""

    async def sign_up(forwarded_for: str) -> int:
        response = await embedded.client.post(
            f"{API}/auth/signup",
            json={"email": new_email()},
            headers={"X-Forwarded-For": forwarded_for},
        )
        return response.status_code

    assert [await sign_up(f"198.51.100.{n}") for n in range(4)] == [200] * 4
    spoofed = [await sign_up(f"192.0.2.{n}, 198.51.100.77") for n in range(3)]
    assert spoofed == [200, 200, 429]  # one client, 198.51.100.77, whatever it claimed
    limited = await embedded.client.post(
        f"{API}/auth/signup",
        json={"email": new_email()},
        headers={"X-Forwarded-For": "198.51.100.77, 127.0.0.1"},  # via two of our proxies
    )
    assert_error(limited, 429, "rate_limited")
