"""The WebSocket server against one client holding thousands of connections: a cap per
address (4429), a cap on connections without a session (4503), a flood aborted at accept,
and a handshake that must complete in time; and against one connection sending messages
as fast as it can (1008). The real ``tradepro ws`` process."""

from __future__ import annotations

import asyncio
import http.client
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.support.servers import free_port
from tests.support.stack import eventually
from tests.support.ws import JWT_SECRET, Inbox, WsGroup, WsProcess
from tradepro.security.tokens import SESSION, issue

pytestmark = pytest.mark.integration

PER_ADDRESS = 5
WITHOUT_SESSION = 3
HANDSHAKE_TIMEOUT_S = 2.0
MESSAGES_PER_S = 2
MESSAGE_BURST = 10


@pytest.fixture
async def limited_ws(
    redis_env: dict[str, str], database_url: str, tmp_path: Path
) -> AsyncIterator[WsProcess]:
    env = redis_env | {
        "DATABASE_URL": database_url,
        "WS_MAX_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS),
        "WS_MAX_UNAUTHENTICATED": str(WITHOUT_SESSION),
        "WS_HANDSHAKE_TIMEOUT_S": str(HANDSHAKE_TIMEOUT_S),
        "WS_MESSAGES_PER_S": str(MESSAGES_PER_S),
        "WS_MESSAGE_BURST": str(MESSAGE_BURST),
    }
    async with WsProcess(env, free_port(), tmp_path / "ws.log").running() as server:
        yield server


def session_token() -> str:
    user_id = str(uuid.uuid4())
    return issue(JWT_SECRET, SESSION, user_id, f"{user_id[:8]}@example.com", 600)[0]


async def open_client(server: WsProcess, *, signed_in: bool = False) -> Inbox:
    url = f"{server.url}?token={session_token()}" if signed_in else server.url
    return Inbox(await connect(url))


async def test_one_address_gets_at_most_its_share_then_4429(limited_ws: WsProcess) -> None:
    clients = [await open_client(limited_ws, signed_in=True) for _ in range(PER_ADDRESS)]
    for client in clients:
        reply = await client.subscribe("prices.BTC_USDC", "orders")
        assert reply["type"] == "subscriptions", reply

    one_too_many = await open_client(limited_ws, signed_in=True)
    assert await one_too_many.closed() == 4429
    assert "too many connections from your address" in str(one_too_many.connection.close_reason)
    assert all(client.close_code is None for client in clients)  # the others keep going
    reason = "too_many_from_address"
    assert await limited_ws.metric("tradepro_ws_closed_by_server_total", reason=reason) == 1

    await clients.pop().close()  # room again once one of them leaves
    again = await open_client(limited_ws)
    assert (await again.subscribe("prices.ETH_USDC"))["type"] == "subscriptions"


async def test_connections_without_a_session_are_capped_and_signed_in_ones_still_get_in(
    limited_ws: WsProcess,
) -> None:
    anonymous = [await open_client(limited_ws) for _ in range(WITHOUT_SESSION)]
    for client in anonymous:
        assert (await client.subscribe("prices.SOL_USDC"))["type"] == "subscriptions"
    refused = await open_client(limited_ws)
    assert await refused.closed() == 4503
    signed_in = await open_client(limited_ws, signed_in=True)
    assert (await signed_in.subscribe("orders"))["type"] == "subscriptions"

    # One of them signs in by message: it no longer counts, so another may come in.
    await anonymous[0].send({"type": "auth", "token": session_token()})
    await anonymous[0].first(lambda m: m["type"] == "authenticated", "the auth reply")
    newcomer = await open_client(limited_ws)
    assert (await newcomer.subscribe("prices.SOL_USDC"))["type"] == "subscriptions"


def open_raw(port: int, count: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]


def closed_within(sock: socket.socket, timeout_s: float) -> float | None:
    """Seconds until the server closed ``sock`` (EOF or reset), None if it did not."""
    started = time.monotonic()
    sock.settimeout(timeout_s)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return None
    except ConnectionResetError:
        return time.monotonic() - started
    return time.monotonic() - started if data == b"" else None


async def test_a_flood_of_connections_from_one_address_is_aborted_at_accept(
    limited_ws: WsProcess,
) -> None:
    # Raw TCP connections that never start a handshake: the first 2 x PER_ADDRESS wait for
    # the handshake timeout, those beyond are aborted at once (and counted).
    held = await asyncio.to_thread(open_raw, limited_ws.port, 2 * PER_ADDRESS + 3)
    try:
        await eventually(lambda: flood_aborts(limited_ws, 3), 10, "3 connections aborted at accept")
    finally:
        for sock in held:
            sock.close()


async def flood_aborts(server: WsProcess, expected: int) -> bool:
    """Whether ``/metrics``, asked from another address, counts ``expected`` aborts."""
    body = await asyncio.to_thread(metrics_from_another_address, server.port)
    wanted = 'tradepro_ws_closed_by_server_total{reason="address_flood"}'
    values = [line.rpartition(" ")[2] for line in body.splitlines() if line.startswith(wanted)]
    return values == [f"{expected:.1f}"]


def metrics_from_another_address(port: int) -> str:
    # 127.0.0.1 is over its cap here: ask from 127.0.0.2 (the loopback network is a /8).
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=5, source_address=("127.0.0.2", 0)
    )
    try:
        connection.request("GET", "/metrics")
        return connection.getresponse().read().decode()
    finally:
        connection.close()


async def test_a_handshake_that_never_completes_is_cut_off(limited_ws: WsProcess) -> None:
    (silent,) = await asyncio.to_thread(open_raw, limited_ws.port, 1)
    with silent:
        silent.sendall(b"GET / HTTP/1.1\r\nHost: slow\r\n")  # and never the rest
        # Generous against the 2 s setting, and short of the library's default (10 s).
        waited = await asyncio.to_thread(closed_within, silent, 7.0)
    assert waited is not None, "the unfinished handshake was not cut off"


async def test_with_several_processes_each_applies_the_per_address_cap_to_its_own_share(
    redis_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """``WS_PROCESSES=2``: an address may hold the cap on each process, so twice the cap
    in all, never more (docs/websocket.md "Several processes")."""
    env = redis_env | {"DATABASE_URL": database_url, "WS_MAX_CONNECTIONS_PER_ADDRESS": "3"}
    async with WsGroup(env, 2, tmp_path).running() as group:
        attempts = [Inbox(await connect(group.url)) for _ in range(30)]

        async def each_holds_its_cap() -> bool:
            bodies = await group.health_by_pid()
            return sorted(body["connections"] for body in bodies.values()) == [3, 3]

        await eventually(each_holds_its_cap, 30, "each process to keep 3 connections")
        await eventually(
            lambda: sum(inbox.close_code is None for inbox in attempts) == 2 * 3,
            30,
            "the refused connections to be closed",
        )
        refused = {inbox.close_code for inbox in attempts if inbox.close_code is not None}
        assert refused == {4429}


async def test_a_connection_sending_messages_flat_out_is_closed_with_1008(
    limited_ws: WsProcess,
) -> None:
    # Each auth message is a token check (an API key's, a database read) and each
    # subscribe sends the latest quotes back: one connection must not make the server do
    # that as fast as it can write.
    calm = await open_client(limited_ws, signed_in=True)
    flooding = await open_client(limited_ws, signed_in=True)
    for _ in range(MESSAGE_BURST):  # a burst is fine (a page subscribing to its channels)
        await flooding.send({"type": "subscribe", "channels": ["prices.BTC_USDC"]})
    await flooding.first(lambda m: m["type"] == "subscriptions", "a subscribe's reply")
    for _ in range(3 * MESSAGE_BURST):
        await flooding.send({"type": "unsubscribe", "channels": ["prices.BTC_USDC"]})
    assert await flooding.closed() == 1008
    reason = str(flooding.connection.close_reason)
    assert reason == "too many messages: at most 2 a second; one subscribe carries every channel"
    assert len(flooding.of_type("subscriptions")) <= MESSAGE_BURST + 1
    assert (
        await limited_ws.metric("tradepro_ws_closed_by_server_total", reason="message_flood") == 1
    )

    # Another connection of the same user is untouched by it.
    assert (await calm.subscribe("orders"))["type"] == "subscriptions"
    assert calm.close_code is None
