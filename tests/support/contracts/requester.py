"""``Requester`` behaviours on any bus, as a test class to subclass.

A test module provides a ``bus`` fixture (fresh and empty) and declares
``class TestSomething(RequesterContract): pass``. A fake engine task answers requests the
way the real one does: it reads ``engine-stream`` and publishes callbacks whose ``id`` is
the entry's correlation id, here echoing the payload so each test can tell replies apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import orjson
import pytest

from tradepro.bus.base import START_ID, Bus, BusUnavailableError, Callback, Entry
from tradepro.bus.requests import Requester, RequestTimeoutError

GUARD_S = 15.0
"""How long a test waits for something that should happen soon before it fails."""


class FakeEngine:
    """Answers every entry with ``{"id", "status": "ok", "echo": payload}``.

    With ``batch`` > 1 it holds entries until it has that many, then answers them in
    reverse order, so concurrent requests get their replies out of order. Request ids in
    ``ignore`` get no answer.
    """

    def __init__(self, bus: Bus, *, batch: int = 1, ignore: Sequence[str] = ()) -> None:
        self.bus = bus
        self.batch = batch
        self.ignore = set(ignore)
        self.seen: list[Entry] = []
        self._held: list[Entry] = []

    async def run(self) -> None:
        last_id = START_ID
        while True:
            entries = await self.bus.read_entries(last_id, 500, 50)
            if not entries:
                continue
            last_id = entries[-1].entry_id
            self.seen.extend(entries)
            self._held.extend(entry for entry in entries if entry.request_id not in self.ignore)
            while len(self._held) >= self.batch:
                answering, self._held = self._held[: self.batch], self._held[self.batch :]
                await self.bus.publish_callbacks([reply(entry) for entry in reversed(answering)])


def reply(entry: Entry, status: str = "ok") -> bytes:
    return orjson.dumps({"id": entry.request_id, "status": status, "echo": entry.payload})


@contextlib.asynccontextmanager
async def running(engine: FakeEngine | None, requester: Requester) -> AsyncIterator[Requester]:
    task = asyncio.create_task(engine.run()) if engine is not None else None
    await requester.start()
    try:
        async with asyncio.timeout(GUARD_S):
            yield requester
    finally:
        async with asyncio.timeout(GUARD_S):  # a reader that ignores cancelling fails here
            await requester.stop()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def eventually(condition: Callable[[], object], what: str) -> None:
    """Poll until ``condition()`` is truthy; fail after ``GUARD_S``."""
    try:
        async with asyncio.timeout(GUARD_S):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


class DelegatingBus:
    """A ``Bus`` that forwards everything to ``inner``; subclasses change one method."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner

    async def publish(self, kind: str, payload: Mapping[str, object], request_id: str) -> Entry:
        return await self.inner.publish(kind, payload, request_id)

    async def read_entries(self, after_id: str, count: int, block_ms: int) -> list[Entry]:
        return await self.inner.read_entries(after_id, count, block_ms)

    async def trim_entries(self, below_id: str) -> None:
        await self.inner.trim_entries(below_id)

    async def publish_callbacks(self, bodies: Sequence[bytes]) -> None:
        await self.inner.publish_callbacks(bodies)

    async def publish_callbacks_and_read(
        self, bodies: Sequence[bytes], after_id: str, count: int
    ) -> list[Entry]:
        return await self.inner.publish_callbacks_and_read(bodies, after_id, count)

    async def read_callbacks(self, after_id: str, count: int, block_ms: int) -> list[Callback]:
        return await self.inner.read_callbacks(after_id, count, block_ms)

    async def last_callback(self) -> Callback | None:
        return await self.inner.last_callback()

    async def last_callback_id(self) -> str:
        return await self.inner.last_callback_id()

    async def close(self) -> None:
        await self.inner.close()


class FailsFirstRead(DelegatingBus):
    """The first ``read_callbacks`` raises ``BusUnavailableError``, as during an outage."""

    def __init__(self, inner: Bus) -> None:
        super().__init__(inner)
        self.failures = 0

    async def read_callbacks(self, after_id: str, count: int, block_ms: int) -> list[Callback]:
        if self.failures == 0:
            self.failures += 1
            raise BusUnavailableError("simulated outage")
        return await super().read_callbacks(after_id, count, block_ms)


class HoldsReads(DelegatingBus):
    """While ``open`` is clear, reads park (setting ``parked``) before they reach the bus.

    That pins the requester's reader *between* two reads, where a reader that restarts
    from "now" (``$``, or the newest id fetched afresh) would miss a reply.
    """

    def __init__(self, inner: Bus) -> None:
        super().__init__(inner)
        self.open = asyncio.Event()
        self.open.set()
        self.parked = asyncio.Event()

    async def _hold(self) -> None:
        if not self.open.is_set():
            self.parked.set()
            await self.open.wait()

    async def read_callbacks(self, after_id: str, count: int, block_ms: int) -> list[Callback]:
        await self._hold()
        return await super().read_callbacks(after_id, count, min(block_ms, 20))

    async def last_callback_id(self) -> str:
        await self._hold()
        return await super().last_callback_id()


class FailsPublish(DelegatingBus):
    async def publish(self, kind: str, payload: Mapping[str, object], request_id: str) -> Entry:
        raise BusUnavailableError("simulated outage")


def assert_own_reply(reply_body: dict[str, Any], payload: Mapping[str, object]) -> None:
    assert reply_body["status"] == "ok"
    assert reply_body["echo"] == payload


class RequesterContract:
    async def test_concurrent_requests_get_their_own_replies_out_of_order(self, bus: Bus) -> None:
        engine = FakeEngine(bus, batch=5)
        async with running(engine, Requester(bus)) as requester:
            payloads = [{"n": n} for n in range(5)]
            replies = await asyncio.gather(
                *(requester.send_request_and_wait("create-order", p) for p in payloads)
            )
        for payload, body in zip(payloads, replies, strict=True):
            assert_own_reply(body, payload)
        answered = await bus.read_callbacks(START_ID, 10, 0)
        arrival = [orjson.loads(callback.body)["echo"]["n"] for callback in answered]
        assert arrival != sorted(arrival)  # the replies really did arrive out of order

    async def test_a_given_request_id_is_the_correlation_id(self, bus: Bus) -> None:
        engine = FakeEngine(bus)
        async with running(engine, Requester(bus)) as requester:
            body = await requester.send_request_and_wait(
                "close-order", {"orderId": "o-1"}, request_id="my-key"
            )
        assert body["id"] == "my-key"
        assert [(entry.kind, entry.request_id) for entry in engine.seen] == [
            ("close-order", "my-key")
        ]

    async def test_two_hundred_concurrent_requests_are_all_answered(self, bus: Bus) -> None:
        engine = FakeEngine(bus, batch=8)
        async with running(engine, Requester(bus)) as requester:
            payloads = [{"n": n} for n in range(200)]
            replies = await asyncio.gather(
                *(requester.send_request_and_wait("create-order", p) for p in payloads)
            )
            assert requester.pending == 0
        for payload, body in zip(payloads, replies, strict=True):
            assert_own_reply(body, payload)

    async def test_a_reply_published_between_two_reads_is_not_lost(self, bus: Bus) -> None:
        holding = HoldsReads(bus)
        engine = FakeEngine(bus)
        async with running(engine, Requester(holding)) as requester:
            holding.open.clear()
            await holding.parked.wait()  # the reader finished a read; the next one is held
            before = await bus.last_callback_id()
            request = asyncio.create_task(requester.send_request_and_wait("create-order", {"n": 1}))
            while await bus.last_callback_id() == before:
                await asyncio.sleep(0.005)  # until the engine's reply is on the bus
            holding.open.set()
            body = await request
        assert_own_reply(body, {"n": 1})

    async def test_a_reply_already_queued_before_start_is_not_taken(self, bus: Bus) -> None:
        await bus.publish_callbacks([orjson.dumps({"id": "reused", "status": "stale"})])
        engine = FakeEngine(bus)
        async with running(engine, Requester(bus)) as requester:
            body = await requester.send_request_and_wait("create-order", {}, request_id="reused")
        assert body["status"] == "ok"

    async def test_timeout_says_the_outcome_is_unknown_and_a_late_reply_harms_nothing(
        self, bus: Bus
    ) -> None:
        engine = FakeEngine(bus, ignore=["slow"])
        async with running(engine, Requester(bus, timeout_s=0.2)) as requester:
            with pytest.raises(RequestTimeoutError, match="unknown") as raised:
                await requester.send_request_and_wait("create-order", {}, request_id="slow")
            assert isinstance(raised.value, TimeoutError)
            assert requester.pending == 0

            (late,) = [entry for entry in engine.seen if entry.request_id == "slow"]
            await bus.publish_callbacks([reply(late, status="late")])
            body = await requester.send_request_and_wait("create-order", {"n": 2}, timeout_s=5)
        assert_own_reply(body, {"n": 2})

    async def test_the_reader_survives_an_outage_and_loses_no_reply(self, bus: Bus) -> None:
        flaky = FailsFirstRead(bus)
        engine = FakeEngine(bus)
        requester = Requester(flaky, backoff_base_s=0.01)
        async with running(engine, requester):
            body = await requester.send_request_and_wait("create-order", {"n": 3})
        assert flaky.failures == 1
        assert_own_reply(body, {"n": 3})

    async def test_a_publish_failure_raises_bus_unavailable(self, bus: Bus) -> None:
        async with running(None, Requester(FailsPublish(bus))) as requester:
            with pytest.raises(BusUnavailableError):
                await requester.send_request_and_wait("create-order", {})
            assert requester.pending == 0

    async def test_subscribers_see_the_statuses_they_asked_for_and_malformed_is_ignored(
        self, bus: Bus
    ) -> None:
        engine = FakeEngine(bus)
        events: list[dict[str, Any]] = []
        everything: list[dict[str, Any]] = []
        async with running(engine, Requester(bus)) as requester:
            unsubscribe = requester.subscribe(events.append)  # the announcements
            requester.subscribe(everything.append, None)
            await bus.publish_callbacks([b"not json", b'{"id":"nobody","status":"closed"}'])
            body = await requester.send_request_and_wait("create-order", {"n": 4})
            unsubscribe()
            await bus.publish_callbacks([b'{"id":"after","status":"closed"}'])
            await requester.send_request_and_wait("create-order", {"n": 5})
        assert_own_reply(body, {"n": 4})
        assert [item["id"] for item in events] == ["nobody"]  # not the "ok" replies
        assert [item.get("echo") for item in everything[1:]] == [{"n": 4}, None, {"n": 5}]

    async def test_replies_to_other_processes_are_never_parsed(self, bus: Bus) -> None:
        engine = FakeEngine(bus, ignore=["mine"])
        seen: list[dict[str, Any]] = []
        async with running(engine, Requester(bus)) as requester:
            requester.subscribe(seen.append)
            asking = asyncio.create_task(
                requester.send_request_and_wait("get-account", {}, request_id="mine")
            )
            await eventually(lambda: requester.pending == 1, "the request to wait")
            report = {"status": "account", "orders": [{"orderId": "o"}] * 3}
            theirs = [
                orjson.dumps({"id": f"theirs-{n}", "status": status, "orders": report["orders"]})
                for n in range(50)
                for status in ("account", "registered", "insufficient_balance", "created")
            ]
            await bus.publish_callbacks([*theirs, orjson.dumps({"id": "mine"} | report)])
            answer = await asking
            await bus.publish_callbacks([b'{"id":"after","status":"closed"}'])
            await eventually(lambda: any(item["id"] == "after" for item in seen), "the last")
        assert answer == {"id": "mine"} | report
        # Replies and refusals for others: skipped; their "created" announcements are
        # decoded for the subscriber, as are this process's own reply and the "closed".
        assert requester.skipped == 150
        assert requester.decoded == 50 + 1 + 1
        assert [item["id"] for item in seen][-1] == "after"
        assert all(item["status"] in ("created", "closed") for item in seen)

    async def test_without_subscribers_only_awaited_replies_are_parsed(self, bus: Bus) -> None:
        async with running(FakeEngine(bus), Requester(bus)) as requester:
            created = [{"id": f"o{n}", "status": "created", "order": {}} for n in range(200)]
            others = [orjson.dumps(body) for body in created]
            await bus.publish_callbacks(others)
            await requester.send_request_and_wait("create-order", {"n": 6})
        assert requester.decoded == 1 and requester.skipped == 200

    async def test_sending_before_start_is_a_programming_error(self, bus: Bus) -> None:
        with pytest.raises(RuntimeError, match="start"):
            await Requester(bus).send_request_and_wait("create-order", {})
