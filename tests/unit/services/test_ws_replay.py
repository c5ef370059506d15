"""``since`` in the hub: missed events from the log, then the live ones held meanwhile,
each seq once and in order, whatever the race (events during the replay, a log behind the
live stream, an event the causal gate releases after the replay, an expired ``since``)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from tests.support.stack import eventually
from tests.support.ws_hub import Harness
from tradepro.db.account_events import EventsExpiredError
from tradepro.services.ws import replay as replay_module
from tradepro.services.ws.replay import replay


def event(seq: int) -> str:
    return orjson.dumps({"type": "order", "event": "created", "seq": seq}).decode()


class Log:
    """The durable log of one user, as ``read_events`` reads it; ``gate`` holds reads."""

    def __init__(self, through: int, oldest: int = 1) -> None:
        self.through = through
        self.oldest = oldest
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def read(self, user_id: str, since: int, limit: int) -> list[tuple[int, str]]:
        assert user_id == "alice"
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if since + 1 < self.oldest:
            raise EventsExpiredError(since, self.oldest)
        last = min(self.through, since + limit)
        return [(seq, event(seq)) for seq in range(since + 1, last + 1)]


@pytest.fixture
async def harness() -> Any:
    running = Harness(queue_limit=64)
    yield running
    await running.stop()


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages if m["type"] == "order"]


async def start(harness: Harness, log: Log, since: int) -> tuple[Any, Any, asyncio.Task[None]]:
    client, peer = await harness.client("orders", user_id="alice")
    harness.hub.start_replay(client)
    task = asyncio.create_task(replay(harness.hub, log.read, client, since))
    return client, peer, task


def live(harness: Harness, seq: int) -> None:
    harness.hub.publish_order("alice", event(seq).encode(), None, seq)


async def test_live_events_during_the_replay_follow_it_once(harness: Harness) -> None:
    log = Log(through=5)
    log.gate = asyncio.Event()
    _, peer, task = await start(harness, log, 2)
    for seq in (4, 5, 6, 7):  # 4 and 5 are also in the log; 6 and 7 are not yet
        live(harness, seq)
    assert peer.messages() == []  # held while the log is read
    log.gate.set()
    await task
    assert seqs(peer.messages()) == [3, 4, 5, 6, 7]
    live(harness, 8)
    assert seqs(peer.messages()) == [3, 4, 5, 6, 7, 8]


async def test_a_log_behind_the_live_stream_is_waited_for(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "POLL_S", 0.01)
    live(harness, 6)  # passed on before the client came: the log has only up to 4
    log = Log(through=4)
    _, peer, task = await start(harness, log, 0)
    await eventually(lambda: log.reads >= 3, 5, "a few polls")
    assert not task.done()
    log.through = 6
    await task
    assert seqs(peer.messages()) == [1, 2, 3, 4, 5, 6]


async def test_a_log_that_never_catches_up_is_an_error_not_a_gap(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "POLL_S", 0.01)
    monkeypatch.setattr(replay_module, "LOG_WAIT_S", 0.1)
    live(harness, 9)
    client, peer, task = await start(harness, Log(through=4), 0)
    await task
    messages = peer.messages()
    assert seqs(messages) == [1, 2, 3, 4]
    assert messages[-1]["error"] == "events_unavailable" and "since 4" in messages[-1]["message"]
    assert "orders" not in client.channels  # no live event may follow a gap
    live(harness, 10)
    assert seqs(peer.messages()) == [1, 2, 3, 4]


async def test_an_event_released_late_by_the_causal_gate_is_not_sent_twice(
    harness: Harness,
) -> None:
    _, peer, task = await start(harness, Log(through=8), 5)
    await task
    harness.hub.publish_order("alice", event(8).encode(), None, 8)  # the gate let it go now
    live(harness, 9)
    assert seqs(peer.messages()) == [6, 7, 8, 9]


async def test_an_expired_since_says_so_and_goes_live(harness: Harness) -> None:
    _, peer, task = await start(harness, Log(through=20, oldest=10), 3)
    live(harness, 21)
    await task
    live(harness, 22)
    messages = peer.messages()
    assert messages[0]["error"] == "events_expired" and "REST" in messages[0]["message"]
    assert seqs(messages) == [21, 22]


async def test_a_long_replay_goes_in_pages_without_overflowing_the_client(
    harness: Harness,
) -> None:
    _, peer, task = await start(harness, Log(through=1000), 0)
    await task
    assert seqs(peer.messages()) == list(range(1, 1001))
    assert peer.close_code is None


async def test_a_client_that_leaves_mid_replay_stops_it(harness: Harness) -> None:
    log = Log(through=5)
    log.gate = asyncio.Event()
    client, peer, task = await start(harness, log, 0)
    harness.hub.leave(client)
    log.gate.set()
    await task
    assert peer.messages() == [] and client not in harness.hub.replaying


async def test_a_log_that_cannot_be_read_says_so_and_unsubscribes(harness: Harness) -> None:
    async def broken(user_id: str, since: int, limit: int) -> list[tuple[int, str]]:
        raise OSError("connection refused")

    client, peer = await harness.client("orders", user_id="alice")
    harness.hub.start_replay(client)
    await replay(harness.hub, broken, client, 7)
    [error] = peer.messages()
    assert error["error"] == "events_unavailable" and "since 7" in error["message"]
    assert "orders" not in client.channels and client not in harness.hub.replaying
