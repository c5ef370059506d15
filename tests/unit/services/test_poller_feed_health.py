"""The poller's feed health: the states a person is told, the outage log that does not
repeat itself on every reconnect attempt, and the ``feed-status`` entries on the bus."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tradepro.bus.base import START_ID
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.feeds import FEEDS as FEED_NAMES
from tradepro.feeds.backpack_client import in_plain_words
from tradepro.protocol.feed import FEEDS, FeedReport, FeedState, read_feed_report
from tradepro.protocol.kinds import Kind
from tradepro.services.poller.feed_health import FeedHealth, FeedStatusReporter, OutageLog

T0_MS = 1_767_225_600_000
URL = "ws://127.0.0.1:9/"


class Clock:
    """Milliseconds since the epoch for the health, seconds for the log: one fake time."""

    def __init__(self) -> None:
        self.ms = T0_MS

    def now_ms(self) -> int:
        return self.ms

    def now_s(self) -> float:
        return self.ms / 1000

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


def backpack(clock: Clock, quotes: dict[str, int | None]) -> FeedHealth:
    return FeedHealth("backpack", quotes, quiet_after_s=5.0, clock_ms=clock.now_ms)


def test_unreachable_keeps_the_time_of_the_first_failure_and_the_last_error() -> None:
    clock = Clock()
    health = backpack(clock, {"BTC_USDC": None})
    assert health.status() == FeedReport("backpack", FeedState.CONNECTING, T0_MS)

    clock.advance(1)
    health.failed("connection refused")
    clock.advance(30)
    health.failed("no answer in time")

    status = health.status()
    assert status == FeedReport(
        "backpack", FeedState.UNREACHABLE, T0_MS + 1000, "no answer in time"
    )
    assert health.attempts == 2
    assert status.payload() == {
        "feed": "backpack",
        "state": "unreachable",
        "since": T0_MS + 1000,
        "error": "no answer in time",
    }


def test_connected_is_live_while_quotes_arrive_and_no_quotes_after_a_quiet_spell() -> None:
    clock = Clock()
    quotes: dict[str, int | None] = {"BTC_USDC": None, "ETH_USDC": None}
    health = backpack(clock, quotes)
    health.failed("connection refused")
    clock.advance(10)
    health.connected()
    connected_ms = clock.ms
    assert health.status() == FeedReport("backpack", FeedState.LIVE, connected_ms)

    clock.advance(5)  # connected, subscribed, and nothing came
    assert health.status() == FeedReport("backpack", FeedState.NO_QUOTES, connected_ms)

    quotes["ETH_USDC"] = clock.ms * 1000
    assert health.status().state is FeedState.LIVE
    clock.advance(4.9)
    assert health.status().state is FeedState.LIVE
    clock.advance(0.1)
    assert health.status() == FeedReport(
        "backpack", FeedState.NO_QUOTES, quotes["ETH_USDC"] // 1000
    )

    health.failed("the connection was lost")  # a new outage starts now
    assert health.status() == FeedReport(
        "backpack", FeedState.UNREACHABLE, clock.ms, "the connection was lost"
    )


def test_the_simulated_feed_says_so_whatever_happens() -> None:
    clock = Clock()
    health = FeedHealth("sim", {"BTC_USDC": None}, clock_ms=clock.now_ms)
    clock.advance(60)
    assert health.status() == FeedReport("sim", FeedState.SIMULATED, T0_MS)


def test_an_error_is_bounded() -> None:
    health = backpack(Clock(), {})
    health.failed("x" * 10_000)
    assert len(health.status().error or "") == 200


def test_the_outage_is_logged_at_its_start_then_sparingly_with_the_offline_hint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    health = backpack(clock, {})
    outages = OutageLog(URL, first_repeat_s=60, repeat_s=300, clock=clock.now_s)
    caplog.set_level(logging.INFO, logger="tradepro.poller")

    for _ in range(100):  # a reconnect attempt every 0.5 s for 50 s
        health.failed("connection refused (nothing accepts connections at that address)")
        outages.failed(health)
        clock.advance(0.5)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith(f"cannot reach the exchange at {URL}: connection refused")
    assert "Prices are not updating" in lines[0]
    assert "To trade offline on simulated prices, run: make run FEED=sim" in lines[0]

    for _ in range(1200):  # ten more minutes of attempts
        health.failed("connection refused")
        outages.failed(health)
        clock.advance(0.5)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3  # at the start, after 1 min, after 6 min (every 5 min from then)
    assert all(line.startswith(f"still cannot reach the exchange at {URL}") for line in lines[1:])
    assert "attempts; last: connection refused" in lines[1]
    assert "make run FEED=sim" in lines[-1]

    health.connected()
    outages.connected()
    assert caplog.records[-1].getMessage().startswith("reached the exchange again after ")


def test_no_quotes_is_logged_once_per_quiet_spell(caplog: pytest.LogCaptureFixture) -> None:
    outages = OutageLog(URL)
    caplog.set_level(logging.INFO, logger="tradepro.poller")
    quiet = FeedReport("backpack", FeedState.NO_QUOTES, T0_MS)
    for _ in range(5):
        outages.observed(quiet)
    outages.observed(FeedReport("backpack", FeedState.LIVE, T0_MS))
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith(f"connected to the exchange at {URL}, but no quotes since ")
    assert messages[1] == f"quotes arrive again from {URL}"


def test_errors_are_said_in_plain_words() -> None:
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
    assert in_plain_words(refused).startswith("connection refused")
    assert in_plain_words(OSError("Multiple exceptions: [Errno 111] Connect call failed"))
    assert in_plain_words(TimeoutError()) == "no answer in time"


async def test_the_reporter_publishes_changes_at_once_and_otherwise_a_heartbeat(
    tmp_path: Path,
) -> None:
    clock = Clock()
    health = backpack(clock, {})
    bus = SqliteBus(tmp_path / "bus.db")
    reporter = FeedStatusReporter(bus, health, heartbeat_s=5.0, clock=clock.now_s)
    try:
        await reporter.report()  # connecting
        clock.advance(1)
        await reporter.report()  # unchanged, no heartbeat due
        health.failed("connection refused")
        await reporter.report()  # changed: at once
        for _ in range(9):  # unchanged for 9 s: one heartbeat (after 5 s)
            clock.advance(1)
            await reporter.report()
        entries = await bus.read_entries(START_ID, 100, 0)
    finally:
        await bus.close()
    assert [entry.kind for entry in entries] == [Kind.FEED_STATUS] * 3
    states = [entry.payload["state"] for entry in entries]  # type: ignore[index]
    assert states == ["connecting", "unreachable", "unreachable"]
    assert entries[1].payload == entries[2].payload


def test_a_reader_takes_only_well_formed_reports() -> None:
    assert set(FEED_NAMES) == FEEDS
    good = {"feed": "backpack", "state": "unreachable", "since": T0_MS, "error": "refused"}
    assert read_feed_report(good) == FeedReport("backpack", FeedState.UNREACHABLE, T0_MS, "refused")
    assert read_feed_report(good | {"error": "e" * 5000}).error == "e" * 200  # type: ignore[union-attr]
    assert read_feed_report(good | {"since": None, "error": None, "extra": "<script>"}) == (
        FeedReport("backpack", FeedState.UNREACHABLE, None, None)
    )
    for bad in (
        good | {"feed": "nasdaq"},
        good | {"state": "LIVE"},
        good | {"state": ["live"]},
        good | {"since": "yesterday"},
        good | {"since": True},
        good | {"since": -1},
        good | {"since": 10**20},
        good | {"error": {"html": "<b>"}},
        ["not", "an", "object"],
    ):
        assert read_feed_report(bad) is None, bad
