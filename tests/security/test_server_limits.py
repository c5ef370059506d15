"""The API's HTTP server against abusive connections: huge and trickled request heads,
idle connections by the thousand. The real uvicorn server with the options ``tradepro api``
runs with, on a real port; the attacks run in threads on blocking sockets."""

from __future__ import annotations

import asyncio
import select
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager

import httpx
import orjson
import pytest
import uvicorn

from tests.support.api import API, Stack
from tests.support.stack import eventually
from tradepro.api.server import http_server_options

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
ANSWER_TIMEOUT_S = 15.0
"""How long a socket waits for an answer: far beyond the limits under test."""


class Served:
    def __init__(self, stack: Stack, server: uvicorn.Server, port: int) -> None:
        self.stack = stack
        self.server = server
        self.port = port
        self.base_url = f"http://{HOST}:{port}"

    def connections(self, *, idle: bool = False) -> int:
        """Connections the server holds (only those with no request in progress)."""
        if idle:
            return len(getattr(self.server.config.http_protocol_class, "idle", ()))
        return len(self.server.server_state.connections)


@pytest.fixture
async def served(embedded: Stack) -> AsyncIterator[Served]:
    """The stack's app behind uvicorn with the API's server options, on a free port."""
    config = uvicorn.Config(
        embedded.app, host=HOST, port=0, lifespan="off", log_level="warning",
        **http_server_options(embedded.settings),
    )  # fmt: skip
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or serving.done(), 30, "uvicorn")
    if serving.done():
        serving.result()
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(embedded, server, port)
    finally:
        server.should_exit = True
        await serving


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or ``ANSWER_TIMEOUT_S`` passes)."""
    received = b""
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received


def error_of(answer: bytes) -> tuple[int, str, dict[str, str]]:
    """Status, the ``error`` word and the headers of a raw HTTP answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert headers["content-type"] == "application/json", answer[:300]
    document = orjson.loads(body)
    assert set(document) == {"error", "message"} and document["message"], document
    return int(lines[0].split()[1]), document["error"], headers


def send_oversize_head(port: int, total_bytes: int) -> bytes:
    """A request whose one header grows to ``total_bytes`` unless the server answers."""
    with socket.create_connection((HOST, port), timeout=ANSWER_TIMEOUT_S) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: attacker\r\nX-Filler: ")
        chunk = b"a" * 65536
        sent = 0
        while sent < total_bytes:
            answered, _, _ = select.select([sock], [], [], 0)
            if answered:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        return read_answer(sock)


def attack_with_oversize_heads(port: int, rounds: int) -> list[bytes]:
    return [send_oversize_head(port, 64 << 20) for _ in range(rounds)]


async def test_an_oversize_header_is_a_431_while_health_stays_fast(served: Served) -> None:
    attack = asyncio.create_task(asyncio.to_thread(attack_with_oversize_heads, served.port, 20))
    checks = 0
    async with httpx.AsyncClient(base_url=served.base_url) as client:
        while not attack.done() or checks == 0:
            # Generous: a healthy /health answers in milliseconds.
            health = await asyncio.wait_for(client.get("/health"), 2.0)
            assert health.status_code == 200, health.text
            checks += 1
    for answer in await attack:
        status, error, _ = error_of(answer)
        assert (status, error) == (431, "headers_too_large")


async def test_headers_just_under_the_limit_are_served(served: Served) -> None:
    limit = served.stack.settings.api_max_header_bytes
    async with httpx.AsyncClient(base_url=served.base_url) as client:
        big = await client.get("/health", headers={"X-Filler": "a" * (limit - 200)})
        assert big.status_code == 200, big.text
        body = {"email": "not an address"}
        post = await client.post(f"{API}/auth/signup", json=body, headers={"X-Filler": "a" * 100})
        assert post.status_code == 422, post.text


def trickle_head(port: int, pause_s: float, duration_s: float) -> tuple[bytes, float]:
    """A request head sent a byte at a time; the answer and how long the server waited."""
    with socket.create_connection((HOST, port), timeout=ANSWER_TIMEOUT_S) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: slow\r\n")
        while time.monotonic() - started < duration_s:
            answered, _, _ = select.select([sock], [], [], pause_s)
            if answered:
                break
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                break
        return read_answer(sock), time.monotonic() - started


@pytest.mark.stack_settings(api_header_timeout_s=1.0)
async def test_a_trickled_header_is_cut_off(served: Served) -> None:
    answer, waited_s = await asyncio.to_thread(trickle_head, served.port, 0.1, 12.0)
    status, error, _ = error_of(answer)
    assert (status, error) == (408, "request_timeout")
    assert waited_s < 12.0  # cut off by the server, not ended by the attacker


@pytest.mark.stack_settings(api_body_timeout_s=1.0)
async def test_a_body_that_never_comes_is_cut_off(served: Served) -> None:
    def unfinished_post() -> tuple[bytes, float]:
        started = time.monotonic()
        with start_unfinished_post(served.port) as sock:
            return read_answer(sock), time.monotonic() - started

    answer, waited_s = await asyncio.to_thread(unfinished_post)
    status, error, _ = error_of(answer)
    assert (status, error) == (408, "request_timeout")
    assert waited_s < ANSWER_TIMEOUT_S


def trickle_second_head(port: int) -> bytes:
    """One whole request, then the next one's head a byte at a time on the same connection."""
    with socket.create_connection((HOST, port), timeout=ANSWER_TIMEOUT_S) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: first\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first or not first.endswith(b"}"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first
        started = time.monotonic()
        for byte in b"GET /health HTTP/1.1\r\nHost: slow\r\nX-Slow: " + b"a" * 1000:
            answered, _, _ = select.select([sock], [], [], 0.1)
            if answered or time.monotonic() - started > 12:
                break
            sock.sendall(bytes([byte]))
        return read_answer(sock)


@pytest.mark.stack_settings(api_header_timeout_s=1.0, api_keep_alive_s=30.0)
async def test_a_trickled_header_on_a_kept_alive_connection_is_cut_off(served: Served) -> None:
    status, error, _ = error_of(await asyncio.to_thread(trickle_second_head, served.port))
    assert (status, error) == (408, "request_timeout")


@contextmanager
def idle_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        sockets = [
            stack.enter_context(socket.create_connection((HOST, port), timeout=5))
            for _ in range(count)
        ]
        yield sockets


def closed_by_server(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.stack_settings(api_header_timeout_s=1.0)
async def test_a_silent_connection_is_closed_without_an_answer(served: Served) -> None:
    with idle_connections(served.port, 1) as (silent,):
        await eventually(lambda: closed_by_server(silent), 10, "the silent connection closed")


@pytest.mark.stack_settings(api_keep_alive_s=1.0)
async def test_an_idle_kept_alive_connection_is_closed(served: Served) -> None:
    reader, writer = await asyncio.open_connection(HOST, served.port)
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: idle\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(head.lower().partition(b"content-length: ")[2].partition(b"\r\n")[0])
        await reader.readexactly(length)
        # Generous against the 1 s setting, short of uvicorn's own default (5 s).
        assert await asyncio.wait_for(reader.read(1), 4.0) == b""
    finally:
        writer.close()


@pytest.mark.stack_settings(api_max_connections=8, api_header_timeout_s=60.0)
async def test_at_the_connection_cap_the_longest_idle_connection_makes_room(
    served: Served,
) -> None:
    with idle_connections(served.port, 8) as idle:
        await eventually(lambda: served.connections(idle=True) == 8, 10, "8 idle connections")
        async with httpx.AsyncClient(base_url=served.base_url) as client:
            health = await client.get("/health")
            assert health.status_code == 200, health.text
        await eventually(lambda: closed_by_server(idle[0]), 10, "the oldest idle one closed")
        assert not any(closed_by_server(sock) for sock in idle[2:])


def start_unfinished_post(port: int) -> socket.socket:
    """A request whose body never comes: the server is busy with it, not idle."""
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.sendall(
        f"POST {API}/auth/signup HTTP/1.1\r\nHost: busy\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n{".encode()
    )
    return sock


@pytest.mark.stack_settings(api_max_connections=4, api_body_timeout_s=60.0)
async def test_with_every_connection_busy_a_new_one_is_a_503(served: Served) -> None:
    busy = [start_unfinished_post(served.port) for _ in range(4)]
    try:
        await eventually(
            lambda: served.connections() == 4 and served.connections(idle=True) == 0,
            10, "4 connections, each with a request in progress",
        )  # fmt: skip
        answer = await asyncio.to_thread(plain_get, served.port)
        status, error, headers = error_of(answer)
        assert (status, error) == (503, "server_busy")
        assert headers["retry-after"] == "1"
    finally:
        for sock in busy:
            sock.close()
    async with httpx.AsyncClient(base_url=served.base_url) as client:
        await eventually(lambda: _healthy(client), 10, "served again once they are gone")


def plain_get(port: int) -> bytes:
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: late\r\n\r\n")
        return read_answer(sock)


async def _healthy(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/health")).status_code == 200
    except httpx.HTTPError:
        return False
