"""The ``Bus`` behaviours every implementation shares, as a test class to subclass.

A test module provides two fixtures, ``bus`` (a fresh, empty bus) and ``append_raw_entry``
(appends an ``engine-stream`` entry whose payload bytes are taken as they are), then
declares ``class TestSomething(BusContract): pass``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import MappingProxyType

import orjson

from tradepro.bus.base import START_ID, Bus, entry_order

AppendRawEntry = Callable[[str, str, bytes], Awaitable[None]]
"""``(kind, request_id, payload_bytes)``: append an entry without encoding its payload."""

GUARD_S = 10.0
"""How long a test waits for something that should happen at once before it fails."""


async def publish_many(bus: Bus, count: int, kind: str = "price-update") -> list[str]:
    return [(await bus.publish(kind, {"n": n}, f"request-{n}")).entry_id for n in range(count)]


class BusContract:
    async def test_entries_come_back_in_publish_order_with_timestamps(self, bus: Bus) -> None:
        published = [
            await bus.publish("create-order", {"asset": "BTC_USDC", "qty": "0.1"}, "req-a"),
            await bus.publish("close-order", {"orderId": "o-1"}, "req-b"),
            await bus.publish("price-update", {"bid": "1.5", "ask": "1.6"}, "req-c"),
        ]
        ids = [entry.entry_id for entry in published]

        entries = await bus.read_entries(START_ID, 10, 0)

        assert entries == published  # publish returns the entry exactly as readers see it

        assert [entry.entry_id for entry in entries] == ids
        assert [entry_order(entry_id) for entry_id in ids] == sorted(map(entry_order, ids))
        assert len(set(ids)) == 3
        assert [(entry.kind, entry.request_id) for entry in entries] == [
            ("create-order", "req-a"),
            ("close-order", "req-b"),
            ("price-update", "req-c"),
        ]
        assert entries[0].payload == {"asset": "BTC_USDC", "qty": "0.1"}
        assert entries[2].payload == {"bid": "1.5", "ask": "1.6"}
        stamps = [entry.ts_us for entry in entries]
        assert stamps == sorted(stamps)
        assert stamps[0] > 1_600_000_000 * 10**6  # microseconds since the epoch, not ms

    async def test_concurrent_publishes_each_get_their_own_entry(self, bus: Bus) -> None:
        # Publishes from one event-loop turn may travel together; each still gets its entry.
        published = await asyncio.gather(
            *(bus.publish("create-order", {"n": n}, f"req-{n}") for n in range(50)),
            bus.publish("price-update", {"bid": "1", "ask": "2"}, "quote"),
        )
        entries = await bus.read_entries(START_ID, 100, 0)
        assert sorted(entries, key=lambda entry: entry_order(entry.entry_id)) == entries
        assert {entry.entry_id: entry for entry in entries} == {
            entry.entry_id: entry for entry in published
        }
        assert [(entry.request_id, entry.payload) for entry in published[:50]] == [
            (f"req-{n}", {"n": n}) for n in range(50)
        ]
        assert published[50].kind == "price-update"

    async def test_read_starts_strictly_after_the_given_id(self, bus: Bus) -> None:
        ids = await publish_many(bus, 5)

        after_second = await bus.read_entries(ids[1], 10, 0)
        limited = await bus.read_entries(START_ID, 2, 0)
        after_last = await bus.read_entries(ids[-1], 10, 0)

        assert [entry.entry_id for entry in after_second] == ids[2:]
        assert [entry.entry_id for entry in limited] == ids[:2]
        assert after_last == []

    async def test_block_zero_returns_at_once_when_empty(self, bus: Bus) -> None:
        # If 0 meant "block forever" (Redis' meaning) these would hang until the guard.
        async with asyncio.timeout(GUARD_S):
            assert await bus.read_entries(START_ID, 10, 0) == []
            assert await bus.read_callbacks(START_ID, 10, 0) == []
            last = (await publish_many(bus, 1))[0]
            assert await bus.read_entries(last, 10, 0) == []

    async def test_blocking_read_returns_what_is_published_meanwhile(self, bus: Bus) -> None:
        async with asyncio.timeout(GUARD_S):
            reading = asyncio.create_task(bus.read_entries(START_ID, 10, 2000))
            await asyncio.sleep(0)  # let the read start (it would see the entry anyway)
            entry_id = (await bus.publish("price-update", {"bid": "1"}, "req-wake")).entry_id
            entries = await reading

        assert [entry.entry_id for entry in entries] == [entry_id]

    async def test_blocking_read_of_an_empty_stream_ends_empty(self, bus: Bus) -> None:
        async with asyncio.timeout(GUARD_S):
            assert await bus.read_entries(START_ID, 10, 50) == []
            assert await bus.read_callbacks(START_ID, 10, 50) == []

    async def test_malformed_payload_reads_as_none(
        self, bus: Bus, append_raw_entry: AppendRawEntry
    ) -> None:
        await append_raw_entry("create-order", "req-bad", b"{not json")
        await append_raw_entry("create-order", "req-list", b"[1, 2]")
        await bus.publish("create-order", {"ok": True}, "req-good")

        entries = await bus.read_entries(START_ID, 10, 0)

        assert [(entry.request_id, entry.payload) for entry in entries] == [
            ("req-bad", None),
            ("req-list", [1, 2]),
            ("req-good", {"ok": True}),
        ]

    async def test_trim_drops_entries_below_the_boundary_and_keeps_it(self, bus: Bus) -> None:
        # Enough entries to fill several Redis stream nodes (100 each): Redis trims whole
        # nodes ("MINID ~"), so only entries below the boundary go, never the boundary.
        ids = await publish_many(bus, 450)

        await bus.trim_entries(ids[350])
        await bus.trim_entries(ids[350])  # idempotent
        remaining = [entry.entry_id for entry in await bus.read_entries(START_ID, 1000, 0)]

        assert remaining[-100:] == ids[350:]
        assert ids[350:] == remaining[remaining.index(ids[350]) :]
        assert len(remaining) < len(ids)  # at least the first whole nodes went

    async def test_callbacks_publish_together_and_read_in_order(self, bus: Bus) -> None:
        bodies = [orjson.dumps({"id": f"req-{n}", "status": "created"}) for n in range(3)]

        await bus.publish_callbacks(bodies)
        await bus.publish_callbacks([])  # nothing to send is not an error
        callbacks = await bus.read_callbacks(START_ID, 10, 0)
        last_id = await bus.last_callback_id()

        assert [callback.body for callback in callbacks] == bodies
        assert last_id == callbacks[-1].entry_id
        assert await bus.read_callbacks(callbacks[0].entry_id, 10, 0) == callbacks[1:]
        assert await bus.read_callbacks(last_id, 10, 0) == []

    async def test_publish_callbacks_and_read_does_both_in_order(self, bus: Bus) -> None:
        ids = await publish_many(bus, 3)
        bodies = [orjson.dumps({"id": f"req-{n}", "status": "created"}) for n in range(2)]

        following = await bus.publish_callbacks_and_read(bodies, ids[0], 10)
        nothing_yet = await bus.publish_callbacks_and_read([], ids[-1], 10)

        assert [entry.entry_id for entry in following] == ids[1:]
        assert following == (await bus.read_entries(ids[0], 10, 0))
        assert nothing_yet == []
        assert [callback.body for callback in await bus.read_callbacks(START_ID, 10, 0)] == bodies
        assert [e.entry_id for e in await bus.publish_callbacks_and_read([], START_ID, 2)] == ids[
            :2
        ]

    async def test_last_callback_id_starts_at_start_and_follows_the_queue(self, bus: Bus) -> None:
        assert await bus.last_callback_id() == START_ID
        assert await bus.last_callback() is None

        await bus.publish_callbacks([b'{"id":"a","status":"created"}'])
        first = await bus.last_callback_id()
        await bus.publish_callbacks([b'{"id":"b","status":"closed"}'])
        second = await bus.last_callback_id()

        assert first != START_ID
        assert entry_order(second) > entry_order(first)
        assert await bus.last_callback() == (second, b'{"id":"b","status":"closed"}')

    async def test_any_mapping_is_a_payload(self, bus: Bus) -> None:
        await bus.publish("register-user", MappingProxyType({"email": "a@b.c"}), "req-map")

        (entry,) = await bus.read_entries(START_ID, 10, 0)

        assert entry.payload == {"email": "a@b.c"}

    async def test_the_callback_queue_is_bounded_in_bytes_keeping_the_newest(
        self, bus: Bus
    ) -> None:
        bus.callback_max_bytes = 10_000  # type: ignore[attr-defined]  # both buses have it
        bodies = [b'{"n":%d,"pad":"%s"}' % (n, b"x" * (n % 7 * 300)) for n in range(400)]
        for start in range(0, 400, 37):  # batches of every size, big and small bodies
            await bus.publish_callbacks(bodies[start : start + 37])
            kept = [callback.body for callback in await bus.read_callbacks(START_ID, 1000, 0)]
            assert sum(len(body) for body in kept) <= 10_000
            assert kept == bodies[: start + 37][-len(kept) :]  # the newest, in order
            if len(kept) < start + 37:  # and no more than needed was dropped
                assert sum(len(body) for body in bodies[: start + 37][-len(kept) - 1 :]) > 10_000
        await bus.publish_callbacks([b"y" * 50_000])  # bigger than the bound: kept alone
        assert [c.body for c in await bus.read_callbacks(START_ID, 10, 0)] == [b"y" * 50_000]
