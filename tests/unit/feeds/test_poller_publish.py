"""The poller's publisher and engine guard, against a hand-written bus and requester."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.stack import eventually
from tradepro.bus.base import BusUnavailableError, Entry
from tradepro.bus.requests import RequestTimeoutError
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.feeds.candles import CandleAggregator
from tradepro.feeds.coalesce import FeedQuote, LatestQuotes
from tradepro.services.poller.publish import PROBE_USER_ID, EngineGuard, QuotePublisher
from tradepro.services.poller.status import PollerStats

ASSETS = ("BTC_USDC", "ETH_USDC")
NOW_US = 1_700_000_000_000_000


class GatedBus:
    """Records publishes; each one waits for ``gate`` while it is closed, and the next
    ``failures`` publishes raise ``BusUnavailableError``."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, object]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = 0
        self.failures = 0

    async def publish(self, kind: str, payload: Mapping[str, object], request_id: str) -> Entry:
        self.in_flight += 1
        try:
            await self.gate.wait()
            if self.failures:
                self.failures -= 1
                raise BusUnavailableError("the bus is down")
            self.published.append((kind, dict(payload)))
            return Entry(str(len(self.published)), kind, request_id, 0, dict(payload))
        finally:
            self.in_flight -= 1

    def asks(self, asset: str) -> list[object]:
        return [payload["ask"] for _, payload in self.published if payload["asset"] == asset]


@dataclass
class Rig:
    bus: GatedBus
    publisher: QuotePublisher
    stats: PollerStats
    candles: CandleAggregator
    clock_us: list[int] = field(default_factory=lambda: [NOW_US])


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    bus = GatedBus()
    stats = PollerStats(feed="backpack", assets=ASSETS)
    candles = CandleAggregator()
    clock_us = [NOW_US]
    publisher = QuotePublisher(
        bus,  # type: ignore[arg-type]
        LatestQuotes(max_rate_per_s=10_000),
        DEFAULT_INSTRUMENTS,
        stats,
        candles,
        max_age_us=10_000_000,
        clock_us=lambda: clock_us[0],
    )
    stop = asyncio.Event()
    running = asyncio.create_task(publisher.run(stop))
    yield Rig(bus, publisher, stats, candles, clock_us)
    stop.set()
    publisher.wakeup.set()
    bus.gate.set()
    await asyncio.wait_for(running, 5)


def btc(ask_ticks: int, received_us: int = NOW_US, simulated: bool = False) -> FeedQuote:
    return FeedQuote("BTC_USDC", ask_ticks - 1, ask_ticks, received_us, simulated)


async def test_quotes_are_published_as_exact_decimal_strings_with_their_origin(rig: Rig) -> None:
    rig.publisher.offer(btc(950_003))
    rig.publisher.offer(FeedQuote("ETH_USDC", 366_749, 366_750, NOW_US, True))
    await eventually(lambda: len(rig.bus.published) == 2, 5)
    assert sorted(payload["asset"] for _, payload in rig.bus.published) == list(ASSETS)
    by_asset = {payload["asset"]: (kind, payload) for kind, payload in rig.bus.published}
    assert by_asset["BTC_USDC"] == (
        "price-update",
        {"asset": "BTC_USDC", "bid": "95000.2", "ask": "95000.3", "simulated": False},
    )
    assert by_asset["ETH_USDC"][1] == {
        "asset": "ETH_USDC", "bid": "3667.49", "ask": "3667.50", "simulated": True,
    }  # fmt: skip
    assert rig.stats.published == {"BTC_USDC": 1, "ETH_USDC": 1}


async def test_a_burst_during_an_in_flight_publish_becomes_one_entry(rig: Rig) -> None:
    rig.bus.gate.clear()
    rig.publisher.offer(btc(1_000))
    await eventually(lambda: rig.bus.in_flight == 1, 5, "the first publish in flight")
    for ask in range(1_001, 2_001):  # 1,000 quotes while it is in flight
        rig.publisher.offer(btc(ask))
    rig.bus.gate.set()
    await eventually(lambda: len(rig.bus.published) == 2, 5)
    await asyncio.sleep(0.05)  # nothing else may follow
    assert rig.bus.asks("BTC_USDC") == ["100.0", "200.0"]
    assert rig.stats.coalesced["BTC_USDC"] == 999


async def test_nothing_is_published_while_holding_then_only_the_latest(rig: Rig) -> None:
    rig.stats.holding = True
    for ask in range(1_000, 4_000):
        rig.publisher.offer(btc(ask))
    await asyncio.sleep(0.05)
    assert rig.bus.published == []
    rig.stats.holding = False
    rig.publisher.wakeup.set()  # what the guard's on_change does
    await eventually(lambda: len(rig.bus.published) == 1, 5)
    assert rig.bus.asks("BTC_USDC") == ["399.9"]


async def test_quotes_held_longer_than_the_price_age_limit_are_not_published(rig: Rig) -> None:
    rig.stats.holding = True
    rig.publisher.offer(btc(1_000, received_us=NOW_US))
    rig.publisher.offer(FeedQuote("ETH_USDC", 1, 2, NOW_US + 9_000_000, False))
    rig.clock_us[0] = NOW_US + 10_000_001  # BTC's quote is now 10.000001 s old
    rig.stats.holding = False
    rig.publisher.wakeup.set()
    await eventually(lambda: len(rig.bus.published) == 1, 5)
    assert rig.bus.asks("ETH_USDC") == ["0.02"] and rig.bus.asks("BTC_USDC") == []
    assert rig.stats.expired == {"BTC_USDC": 1, "ETH_USDC": 0}


async def test_a_refused_publish_is_retried_with_the_newest_quote(rig: Rig) -> None:
    rig.bus.failures = 1
    rig.bus.gate.clear()
    rig.publisher.offer(btc(1_000))
    await eventually(lambda: rig.bus.in_flight == 1, 5)
    rig.publisher.offer(btc(1_001))  # arrives while the failing publish is in flight
    rig.bus.gate.set()
    await eventually(lambda: len(rig.bus.published) == 1, 5)
    assert rig.bus.asks("BTC_USDC") == ["100.1"]
    assert rig.stats.publish_failures == 1


async def test_published_quotes_feed_the_candles(rig: Rig) -> None:
    rig.publisher.offer(btc(1_000, simulated=True))
    await eventually(lambda: len(rig.bus.published) == 1, 5)
    [candle] = rig.candles.drain()
    assert (candle.asset, candle.close, candle.quotes, candle.simulated) == (
        "BTC_USDC", 1_000, 1, True,
    )  # fmt: skip  # mid of 999 and 1000 ticks is 999.5, half-even to 1000


class ScriptedRequester:
    """Answers probes when ``answering`` is set; can fail them with an error instead."""

    def __init__(self) -> None:
        self.answering = asyncio.Event()
        self.answering.set()
        self.error: Exception | None = None
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.outstanding = 0
        self.most_outstanding = 0

    async def send_request_and_wait(
        self, kind: str, payload: dict[str, Any], *, timeout_s: float | None = None
    ) -> dict[str, Any]:
        self.requests.append((kind, payload))
        self.outstanding += 1
        self.most_outstanding = max(self.most_outstanding, self.outstanding)
        try:
            if self.error is not None:
                raise self.error
            async with asyncio.timeout(timeout_s):
                await self.answering.wait()
            return {"id": "x", "status": "unknown_user"}
        except TimeoutError:
            raise RequestTimeoutError("no reply") from None
        finally:
            self.outstanding -= 1


@contextlib.asynccontextmanager
async def guarded(requester: ScriptedRequester) -> AsyncIterator[tuple[EngineGuard, list[bool]]]:
    stats = PollerStats(feed="backpack", assets=ASSETS)
    changes: list[bool] = []
    guard = EngineGuard(
        requester,  # type: ignore[arg-type]
        stats,
        timeout_s=0.05,
        interval_s=0.01,
        reply_timeout_s=0.5,
        on_change=lambda: changes.append(stats.holding),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(guard.run(stop))
    try:
        yield guard, changes
    finally:
        stop.set()
        requester.answering.set()
        await asyncio.wait_for(running, 5)


async def test_the_guard_holds_while_the_engine_is_silent_and_releases_when_it_answers() -> None:
    requester = ScriptedRequester()
    async with guarded(requester) as (guard, changes):
        await eventually(lambda: guard.probes >= 3, 5)
        assert not guard.holding and changes == []
        requester.answering.clear()  # the engine stops answering
        await eventually(lambda: guard.holding, 5)
        assert changes == [True]
        probes = guard.probes
        await eventually(lambda: guard.probes > probes, 5, "a new probe after a reply timeout")
        requester.answering.set()
        await eventually(lambda: not guard.holding, 5)
        assert changes == [True, False]
    kinds = {kind for kind, _ in requester.requests}
    assert kinds == {"get-account"}
    assert {payload["userId"] for _, payload in requester.requests} == {PROBE_USER_ID}
    assert requester.most_outstanding == 1  # never more than one probe at a time


async def test_the_guard_holds_when_the_bus_is_down() -> None:
    requester = ScriptedRequester()
    requester.error = BusUnavailableError("Redis is down")
    async with guarded(requester) as (guard, _):
        await eventually(lambda: guard.holding, 5)
        requester.error = None
        await eventually(lambda: not guard.holding, 5)
