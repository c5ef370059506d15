"""A local WebSocket server that speaks Backpack's public stream protocol.

Tests never reach the internet: they start this server on a free port and point
``BACKPACK_WS_URL`` at ``server.url``. It behaves like ``wss://ws.backpack.exchange`` for
book tickers:

- a client sends ``{"method":"SUBSCRIBE","params":["bookTicker.BTC_USDC",...],"id":N}``;
  a valid request gets no reply (as on Backpack) and is recorded in ``subscriptions``;
  an invalid stream name gets ``{"id":N,"error":{"code":4006,"message":"Invalid stream"}}``
  and anything else that is not a (UN)SUBSCRIBE request an error with code 4000;
- ``push_quote`` sends ``{"stream":"bookTicker.X","data":{"e":"bookTicker",...}}`` to every
  connection subscribed to that symbol (``force=True``: to every connection, subscribed or
  not, e.g. for a market nobody asked for);
- ``send_raw`` sends any text (malformed messages), ``drop_connections`` cuts every TCP
  connection without a close handshake (a network failure), ``close_connections`` closes
  them cleanly (a server shutting down), ``freeze`` stops reading and writing on them (a
  dead network path: pings go unanswered), ``ping_clients`` waits for every client's pong;
- like Backpack, the server pings each client every 60 s.

Run it by hand for demos, with a seeded random walk of quotes::

    python -m tests.support.fakes.backpack --port 9010 --rate 5
    BACKPACK_WS_URL=ws://127.0.0.1:9010 tradepro poller
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import re
import time
from collections.abc import Iterable
from types import TracebackType

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tradepro.domain.fixed import format_scaled
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.feeds.sim import SimulatedFeed

STREAM = re.compile(r"bookTicker\.([A-Z0-9]+_[A-Z0-9]+(?:_PERP)?)")
INVALID_STREAM = 4006
INVALID_REQUEST = 4000


def book_ticker_message(
    symbol: str,
    bid: str,
    ask: str,
    *,
    bid_qty: str = "1.000",
    ask_qty: str = "1.000",
    update_id: int = 1,
) -> str:
    """A book ticker message exactly as Backpack frames it (prices as given)."""
    now_us = time.time_ns() // 1000
    data = {
        "e": "bookTicker", "E": now_us, "s": symbol, "a": ask, "A": ask_qty, "b": bid,
        "B": bid_qty, "u": update_id, "T": now_us - 1,
    }  # fmt: skip
    return orjson.dumps({"stream": f"bookTicker.{symbol}", "data": data}).decode()


class FakeBackpack:
    """The server; ``async with FakeBackpack() as backpack:`` starts it on a free port."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, ping_interval_s: float | None = 60.0
    ) -> None:
        self.host = host
        self.port = port
        self.ping_interval_s = ping_interval_s
        self.subscriptions: list[list[str]] = []
        """The params of every accepted SUBSCRIBE, in arrival order (one per request)."""
        self.connections_opened = 0
        self._streams: dict[ServerConnection, set[str]] = {}
        self._frozen: set[ServerConnection] = set()
        self._update_ids = itertools.count(1)
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._streams)

    def subscribers(self, symbol: str) -> int:
        """Open connections currently subscribed to ``symbol``'s book ticker."""
        stream = f"bookTicker.{symbol}"
        return sum(stream in streams for streams in self._streams.values())

    async def start(self) -> FakeBackpack:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            ping_interval=self.ping_interval_s,
            ping_timeout=120.0,  # Backpack closes a client that has not answered in 120 s
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self.drop_connections()
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeBackpack:
        return await self.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- what tests do ------------------------------------------------------------------------

    async def push_quote(
        self,
        symbol: str,
        bid: str,
        ask: str,
        *,
        bid_qty: str = "1.000",
        ask_qty: str = "1.000",
        force: bool = False,
    ) -> int:
        """Send one book ticker to its subscribers (every connection when ``force``);
        return how many connections it was sent to."""
        text = book_ticker_message(
            symbol, bid, ask, bid_qty=bid_qty, ask_qty=ask_qty, update_id=next(self._update_ids)
        )
        stream = f"bookTicker.{symbol}"
        targets = [
            connection
            for connection, streams in self._streams.items()
            if force or stream in streams
        ]
        return await self._send(targets, text)

    async def send_raw(self, text: str) -> int:
        """Send ``text`` as a text frame to every connection; return how many."""
        return await self._send(list(self._streams), text)

    async def drop_connections(self) -> int:
        """Cut every connection at the TCP level (no close frame); return how many."""
        dropped = list(self._streams)
        for connection in dropped:
            connection.transport.abort()
        return len(dropped)

    async def close_connections(self, code: int = 1001) -> int:
        """Close every connection with a close frame, as a server going away does."""
        closing = list(self._streams)
        await asyncio.gather(*(connection.close(code) for connection in closing))
        return len(closing)

    def freeze(self) -> None:
        """Stop reading from and writing to every open connection (a dead network path)."""
        for connection in self._streams:
            connection.transport.pause_reading()
            self._frozen.add(connection)

    async def ping_clients(self) -> list[float]:
        """Ping every open connection; return each pong's round trip in seconds."""
        pongs = [await connection.ping() for connection in self._live(self._streams)]
        return list(await asyncio.gather(*pongs))

    # -- the protocol ---------------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        self.connections_opened += 1
        self._streams[connection] = set()
        try:
            async for message in connection:
                reply = self._request(connection, message)
                if reply is not None:
                    await connection.send(orjson.dumps(reply).decode())
        except ConnectionClosed:
            pass
        finally:
            self._streams.pop(connection, None)
            self._frozen.discard(connection)

    def _request(
        self, connection: ServerConnection, message: str | bytes
    ) -> dict[str, object] | None:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            return _error(None, INVALID_REQUEST, "Invalid request")
        if not isinstance(request, dict):
            return _error(None, INVALID_REQUEST, "Invalid request")
        request_id, method, params = request.get("id"), request.get("method"), request.get("params")
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            return _error(request_id, INVALID_REQUEST, "Invalid request")
        if not params or not all(isinstance(p, str) and STREAM.fullmatch(p) for p in params):
            return _error(request_id, INVALID_STREAM, "Invalid stream")
        if method == "SUBSCRIBE":
            self._streams[connection].update(params)
            self.subscriptions.append(list(params))
        else:
            self._streams[connection].difference_update(params)
        return None

    def _live(self, connections: Iterable[ServerConnection]) -> list[ServerConnection]:
        return [connection for connection in connections if connection not in self._frozen]

    async def _send(self, connections: Iterable[ServerConnection], text: str) -> int:
        targets = self._live(connections)
        results = await asyncio.gather(
            *(connection.send(text) for connection in targets), return_exceptions=True
        )
        return sum(not isinstance(result, BaseException) for result in results)


def _error(request_id: object, code: int, message: str) -> dict[str, object]:
    return {"id": request_id, "error": {"code": code, "message": message}}


async def _random_walk(port: int, rate_per_s: float, seed: int) -> None:
    feed = SimulatedFeed(random.Random(seed), DEFAULT_INSTRUMENTS)
    async with FakeBackpack(port=port) as backpack:
        print(f"fake Backpack at {backpack.url}: a random walk of {sorted(DEFAULT_INSTRUMENTS)}",
              flush=True)  # fmt: skip
        while True:
            for quote in feed.step():
                decimals = DEFAULT_INSTRUMENTS[quote.asset].price_decimals
                bid, ask = format_scaled(quote.bid, decimals), format_scaled(quote.ask, decimals)
                await backpack.push_quote(quote.asset, bid, ask)
            await asyncio.sleep(1.0 / rate_per_s)


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Backpack-like WebSocket server.")
    parser.add_argument("--port", type=int, default=9010, help="port to listen on (0: any)")
    parser.add_argument("--rate", type=float, default=5.0, help="quotes per second per symbol")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random walk")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_random_walk(args.port, args.rate, args.seed))


if __name__ == "__main__":
    main()
