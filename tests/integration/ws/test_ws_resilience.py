"""``tradepro ws`` under stress: a client that stops reading during a flood of quotes,
SIGTERM, a Redis restart."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from tests.support.servers import OwnedRedis, free_port
from tests.support.stack import EngineProcess, eventually, publish_retrying
from tests.support.ws import (
    Inbox,
    Trader,
    WsProcess,
    create_order,
    engine_answers,
    publish_price,
    register,
)
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester
from tradepro.domain.fixed import format_scaled

pytestmark = pytest.mark.integration


async def tiny_socket(port: int) -> socket.socket:
    """A connected TCP socket with a receive buffer as small as the kernel allows, so a
    client that stops reading backs the server up after a few kilobytes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def test_a_client_that_stops_reading_gets_the_latest_quote_and_every_order_event(
    ws_server: WsProcess, engine: EngineProcess, requester: Requester, bus: RedisBus
) -> None:
    """Thousands of quotes while a client does not read: when it reads again it finds a
    few quotes (at most one per price slot), ending on the newest, and its order event;
    it is not closed. A client that keeps reading ends on the newest quote too."""
    await engine_answers(requester, engine)
    trader = await register(requester)
    reader = Inbox(await connect(ws_server.url))
    await reader.subscribe("prices.BTC_USDC")
    # The library stops reading the socket once one message waits for recv(), which this
    # client never calls until the end: a client that has stopped reading.
    stalled = await connect(
        f"{ws_server.url}?token={trader.token}", sock=await tiny_socket(ws_server.port),
        max_queue=1,
    )  # fmt: skip
    await stalled.send('{"type":"subscribe","channels":["prices.BTC_USDC","orders"]}')
    assert "subscriptions" in str(await stalled.recv())

    ticks = range(1_000_000, 1_003_000)  # BTC_USDC has one decimal: 100000.0 up to 100299.9
    bids = [format_scaled(tick, 1) for tick in ticks]
    asks = {format_scaled(tick, 1): format_scaled(tick + 1, 1) for tick in ticks}
    order: dict[str, Any] = {}
    for batch in range(0, len(bids), 100):
        await asyncio.gather(
            *(publish_price(bus, "BTC_USDC", bid, asks[bid]) for bid in bids[batch : batch + 100])
        )
        if batch == 1500:  # an order event in the middle of the flood
            order = await create_order(requester, trader)
    await reader.first(lambda m: m.get("bid") == bids[-1], "the reader to get the newest quote")
    slots = await ws_server.metric("tradepro_ws_price_slots_total")

    # The order event keeps its place after the quote that caused it, but that quote may
    # have been replaced by the newest one: read until both are in.
    received: list[dict[str, Any]] = []

    def done() -> bool:
        newest = any(m.get("bid") == bids[-1] for m in received)
        return newest and any(m["type"] == "order" for m in received)

    with contextlib.suppress(TimeoutError):
        while not done():
            received.append(orjson.loads(await asyncio.wait_for(stalled.recv(), 15)))
    prices = [m["bid"] for m in received if m["type"] == "price"]
    assert len(prices) <= slots + 1  # +1: the latest quote when it subscribed
    assert slots < len(bids) / 3  # the flood was conflated, not relayed
    assert prices == sorted(prices, key=bids.index) and prices[-1] == bids[-1]
    events = [m for m in received if m["type"] == "order"]
    assert [(m["event"], m["order"]["orderId"]) for m in events] == [("created", order["orderId"])]
    assert stalled.close_code is None
    assert await ws_server.metric("tradepro_ws_closed_by_server_total", reason="queue_full") == 0
    reader_prices = [m["bid"] for m in reader.of_type("price")]
    assert reader_prices[-1] == bids[-1] and len(reader_prices) <= slots + 1
    await stalled.close()


async def test_sigterm_closes_every_client_with_1001_and_exits_0(ws_server: WsProcess) -> None:
    trader = Trader(str(uuid.uuid4()))
    anonymous = Inbox(await connect(ws_server.url))
    signed_in = Inbox(await connect(f"{ws_server.url}?token={trader.token}"))
    await anonymous.subscribe("prices.BTC_USDC")
    await signed_in.subscribe("orders")

    code = await asyncio.to_thread(ws_server.terminate)

    assert code == 0
    assert await anonymous.closed() == 1001
    assert await signed_in.closed() == 1001


HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
PING, CLOSE = 0x9, 0x8


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked frame from the server: (opcode, payload)."""
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    return head[0] & 0x0F, await reader.readexactly(length)


@pytest.mark.ws_args("--ping-interval", "0.3", "--ping-timeout", "0.6")
async def test_heartbeats_close_a_client_that_never_answers_pings(ws_server: WsProcess) -> None:
    answering = Inbox(await connect(ws_server.url))  # the library answers pings itself
    reader, writer = await asyncio.open_connection("127.0.0.1", ws_server.port)
    writer.write(HANDSHAKE)
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")

    opcodes = []
    async with asyncio.timeout(15):
        while not opcodes or opcodes[-1] != CLOSE:
            opcode, payload = await read_frame(reader)
            opcodes.append(opcode)
    writer.close()

    assert opcodes[0] == PING  # a heartbeat, left unanswered
    assert int.from_bytes(payload[:2], "big") == 1011  # closed: "keepalive ping timeout"
    assert answering.close_code is None  # pings answered: still connected

    async def one_connection_left() -> bool:  # the closed one is counted off as it ends
        return await ws_server.metric("tradepro_ws_connections") == 1

    await eventually(one_connection_left, 5, "the unanswering connection to be counted off")
    assert answering.close_code is None


@pytest.fixture
def owned_redis() -> Iterator[OwnedRedis]:
    redis = OwnedRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.close()


async def test_the_server_rides_out_a_redis_restart(
    owned_redis: OwnedRedis, database_url: str, tmp_path: Path
) -> None:
    env = {"REDIS_URL": owned_redis.url, "DATABASE_URL": database_url}
    server = WsProcess(env, free_port(), tmp_path / "ws.log")
    server.start()
    bus = RedisBus(owned_redis.url, socket_timeout_s=1.0)
    try:
        await server.wait_healthy()
        client = Inbox(await connect(server.url))
        await client.subscribe("prices.ETH_USDC")
        await publish_price(bus, "ETH_USDC", "3500.00", "3500.01")
        await client.first(lambda m: m.get("bid") == "3500.00", "a price before the outage")

        await asyncio.to_thread(owned_redis.stop)
        await eventually(lambda: _status(server, 503), 30, "/health to report the bus down (503)")
        await asyncio.to_thread(owned_redis.start)
        await publish_retrying(
            bus, "price-update", {"asset": "ETH_USDC", "bid": "3600.00", "ask": "3600.01"}, "r"
        )
        await client.first(lambda m: m.get("bid") == "3600.00", "a price after the restart", 30)

        assert [m["bid"] for m in client.of_type("price")] == ["3500.00", "3600.00"]
        assert client.close_code is None  # the clients never noticed
        await eventually(lambda: _status(server, 200), 30, "/health to be ok again")
    finally:
        await bus.close()
        server.close()


async def _status(server: WsProcess, expected: int) -> bool:
    return (await server.get("/health"))[0] == expected
