"""Fake WebSocket connections for the fan-out's unit tests: each client's transport records
the frames written directly (and how many writes), ``send`` records what the writer task
sends (and can be held, like a socket whose buffer is full), ``close`` records the close
code."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from websockets.protocol import State

from tradepro.services.ws.clients import Client
from tradepro.services.ws.hub import Hub


class FakeTransport(asyncio.WriteTransport):
    def __init__(self, peer: FakePeer) -> None:
        super().__init__()
        self.peer = peer
        self.buffered = 0
        self.aborted = False
        self.writes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Record each frame of ``data`` (a price slot writes several at once)."""
        frames = bytes(data)
        self.writes += 1
        while frames:
            assert frames[0] == 0x81, "an unfragmented text frame"
            length, header = frames[1] & 0x7F, 2
            if length == 126:
                length, header = int.from_bytes(frames[2:4], "big"), 4
            self.peer.received.append(frames[header : header + length])
            frames = frames[header + length :]

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def abort(self) -> None:
        self.aborted = True


class FakePeer:
    def __init__(self) -> None:
        self.state = State.OPEN
        self.transport = FakeTransport(self)
        self.received: list[bytes] = []
        self.writable = asyncio.Event()
        self.writable.set()
        self.close_code: int | None = None
        self.completes_close = True

    async def send(self, message: bytes, /, *, text: bool | None = None) -> None:
        assert text is True
        await self.writable.wait()
        self.received.append(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.close_code = code
        self.state = State.CLOSING
        if not self.completes_close:
            await asyncio.Event().wait()  # a peer that never answers the close

    def messages(self) -> list[Any]:
        return [orjson.loads(raw) for raw in self.received]


class Harness:
    def __init__(self, queue_limit: int = 4, price_rate_per_s: float = 1000.0) -> None:
        self.hub = Hub(close_timeout_s=0.2, price_rate_per_s=price_rate_per_s)
        self.queue_limit = queue_limit
        self.writers: list[asyncio.Task[None]] = []

    async def client(self, *channels: str, user_id: str | None = None) -> tuple[Client, FakePeer]:
        peer = FakePeer()
        client = Client(peer, self.queue_limit, self.hub.latest_prices)
        client.user_id = user_id
        self.hub.join(client)
        self.hub.subscribe(client, channels)
        self.writers.append(asyncio.create_task(client.write_forever()))
        await asyncio.sleep(0)  # the writer starts and waits for work
        return client, peer

    async def stop(self) -> None:
        for writer in self.writers:
            writer.cancel()
        await asyncio.gather(*self.writers, return_exceptions=True)


def price(n: int, asset: str = "BTC_USDC") -> bytes:
    """A price message numbered ``n``, as the hub would be handed one."""
    return orjson.dumps({"type": "price", "asset": asset, "n": n})


def order(n: int) -> bytes:
    """An order event numbered ``n``."""
    return orjson.dumps({"type": "order", "n": n})
