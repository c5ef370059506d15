"""The Backpack client against the local fake server: subscribe, read, drop, reconnect.

The client runs in this process with short keepalive settings, so a dead connection is
noticed in well under a second; the fake server speaks Backpack's protocol over a real
socket.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from tests.support.fakes.backpack import FakeBackpack
from tests.support.servers import free_port
from tests.support.stack import eventually
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.feeds.backpack import BookTicker, Dropped, DropReason
from tradepro.feeds.backpack_client import BackpackClient
from tradepro.runtime.backoff import FULL_JITTER, Backoff

pytestmark = pytest.mark.integration

STREAMS = ["bookTicker.BTC_USDC", "bookTicker.ETH_USDC", "bookTicker.SOL_USDC"]


@dataclass
class Recorder:
    """A ``FeedListener`` that keeps everything it is told."""

    connects: list[bool] = field(default_factory=list)
    disconnects: int = 0
    failures: list[str] = field(default_factory=list)
    tickers: list[BookTicker] = field(default_factory=list)
    drops: list[Dropped] = field(default_factory=list)

    def feed_connected(self, streams: Sequence[str], reconnect: bool) -> None:
        assert list(streams) == STREAMS
        self.connects.append(reconnect)

    def feed_disconnected(self) -> None:
        self.disconnects += 1

    def feed_failed(self, reason: str) -> None:
        self.failures.append(reason)

    def ticker(self, ticker: BookTicker, received_us: int) -> None:
        self.tickers.append(ticker)

    def dropped(self, dropped: Dropped) -> None:
        self.drops.append(dropped)

    def asks(self, asset: str) -> list[int]:
        return [ticker.ask for ticker in self.tickers if ticker.asset == asset]


@asynccontextmanager
async def running_client(url: str, **options: float) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    client = BackpackClient(
        url,
        DEFAULT_INSTRUMENTS,
        recorder,
        backoff=Backoff(base_s=0.05, cap_s=0.2, jitter=FULL_JITTER, rng=random.Random(1)),
        **options,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        yield recorder
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def push_until_received(
    backpack: FakeBackpack, recorder: Recorder, symbol: str, bid: str, ask: str, ticks: int
) -> None:
    """Push a quote (again, until a subscriber exists) until the client has read it."""

    async def arrived() -> bool:
        if ticks in recorder.asks(symbol):
            return True
        await backpack.push_quote(symbol, bid, ask)
        return False

    await eventually(arrived, 10, f"{symbol} ask {ask} to arrive")


async def test_subscribes_every_asset_and_reads_quotes_exactly() -> None:
    async with FakeBackpack() as backpack, running_client(backpack.url) as recorder:
        await eventually(lambda: backpack.subscriptions == [STREAMS], 10, "a subscription")
        assert recorder.connects == [False]
        await backpack.push_quote("BTC_USDC", "95000.1", "95000.3")
        await backpack.push_quote("SOL_USDC", "18.67", "18.70")
        await eventually(lambda: len(recorder.tickers) == 2, 10)
        assert [(t.asset, t.bid, t.ask) for t in recorder.tickers] == [
            ("BTC_USDC", 950001, 950003),
            ("SOL_USDC", 1867, 1870),
        ]


async def test_a_dropped_connection_is_reopened_and_resubscribed() -> None:
    async with FakeBackpack() as backpack, running_client(backpack.url) as recorder:
        await push_until_received(backpack, recorder, "BTC_USDC", "100.0", "100.1", 1001)
        assert await backpack.drop_connections() == 1  # TCP cut, no close frame
        await eventually(lambda: len(backpack.subscriptions) == 2, 10, "a resubscription")
        assert backpack.subscriptions == [STREAMS, STREAMS]
        assert recorder.connects == [False, True] and recorder.disconnects == 1
        await push_until_received(backpack, recorder, "BTC_USDC", "101.0", "101.1", 1011)
        await backpack.close_connections(1001)  # a server going away: clean close
        await eventually(lambda: len(backpack.subscriptions) == 3, 10, "another one")
        await push_until_received(backpack, recorder, "BTC_USDC", "102.0", "102.1", 1021)


async def test_bad_messages_are_dropped_and_reading_goes_on() -> None:
    async with FakeBackpack() as backpack, running_client(backpack.url) as recorder:
        await eventually(lambda: backpack.subscribers("BTC_USDC") == 1, 10)
        await backpack.send_raw("{not json")
        await backpack.send_raw('{"stream":"bookTicker.BTC_USDC","data":{"e":"bookTicker"}}')
        await backpack.send_raw('{"id":9,"error":{"code":4006,"message":"Invalid stream"}}')
        await backpack.push_quote("BTC_USDC", "100.2", "100.1")  # crossed
        await backpack.push_quote("DOGE_USDC", "0.10", "0.11", force=True)  # not ours
        await backpack.push_quote("BTC_USDC", "100.05", "100.1")  # finer than 0.1
        await backpack.push_quote("BTC_USDC", "100.0", "100.1")
        await eventually(lambda: len(recorder.tickers) == 1, 10)
        assert [drop.reason for drop in recorder.drops] == [
            DropReason.MALFORMED,
            DropReason.MALFORMED,
            DropReason.CROSSED,
            DropReason.UNKNOWN_SYMBOL,
            DropReason.MALFORMED,
        ]
        assert recorder.connects == [False]  # one connection all along


async def test_the_server_pings_are_answered() -> None:
    async with FakeBackpack() as backpack, running_client(backpack.url):
        await eventually(lambda: backpack.open_connections == 1, 10)
        [round_trip_s] = await asyncio.wait_for(backpack.ping_clients(), 5)
        assert round_trip_s >= 0


async def test_a_silent_dead_connection_is_detected_by_keepalive_pings() -> None:
    async with (
        FakeBackpack() as backpack,
        running_client(backpack.url, ping_interval_s=0.2, ping_timeout_s=0.2) as recorder,
    ):
        await eventually(lambda: backpack.open_connections == 1, 10)
        backpack.freeze()  # the server neither reads nor writes: pongs never come
        await eventually(lambda: len(backpack.subscriptions) == 2, 10, "a new connection")
        assert recorder.connects == [False, True]
        await push_until_received(backpack, recorder, "ETH_USDC", "3000.00", "3000.01", 300001)


async def test_it_keeps_trying_until_the_server_comes_up() -> None:
    port = free_port()
    async with running_client(f"ws://127.0.0.1:{port}") as recorder:
        await asyncio.sleep(0.3)  # a few refused attempts (backoff capped at 0.2 s here)
        assert recorder.connects == []
        async with FakeBackpack(port=port) as backpack:
            await eventually(lambda: backpack.subscriptions == [STREAMS], 10)
            assert recorder.connects == [False]
