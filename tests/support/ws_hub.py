"""Fake WebSocket connections for the fan-out's unit tests: each client's transport records
the frames written directly, ``send`` records what the writer task sends (and can be held,
like a socket whose buffer is full), ``close`` records the close code."""

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

    def write(self, data: bytes | bytearray | memoryview) -> None:
        frame = bytes(data)
        assert frame[0] == 0x81, "an unfragmented text frame"
        length = frame[1] & 0x7F
        self.peer.received.append(frame[4:] if length == 126 else frame[2:])

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
    def __init__(self, queue_limit: int = 4) -> None:
        self.hub = Hub(close_timeout_s=0.2)
        self.queue_limit = queue_limit
        self.writers: list[asyncio.Task[None]] = []

    async def client(self, *channels: str, user_id: str | None = None) -> tuple[Client, FakePeer]:
        peer = FakePeer()
        client = Client(peer, self.queue_limit)
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
