"""``RedisBus`` against a real Redis: the shared contract plus what is Redis-specific."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from tests.support.contracts.bus import GUARD_S, AppendRawEntry, BusContract
from tradepro.bus.base import START_ID, BusUnavailableError
from tradepro.bus.names import CALLBACK_BYTES_SUFFIX, CALLBACK_QUEUE, ENGINE_STREAM
from tradepro.bus.redis_bus import RedisBus

pytestmark = pytest.mark.integration


@pytest.fixture
def append_raw_entry(raw_redis: Redis, bus_namespace: str) -> AppendRawEntry:
    async def append(kind: str, request_id: str, payload: bytes) -> None:
        fields = {"id": request_id, "kind": kind, "payload": payload}
        await raw_redis.xadd(bus_namespace + ENGINE_STREAM, fields)

    return append


class TestRedisBusContract(BusContract):
    pass


async def test_streams_are_named_by_namespace_and_design(
    bus: RedisBus, raw_redis: Redis, bus_namespace: str
) -> None:
    entry_id = (await bus.publish("price-update", {"bid": "1"}, "req-1")).entry_id
    await bus.publish_callbacks([b'{"id":"req-1","status":"created"}'])

    (raw_entry,) = await raw_redis.xrange(bus_namespace + ENGINE_STREAM)
    assert raw_entry == (
        entry_id.encode(),
        {b"id": b"req-1", b"kind": b"price-update", b"payload": b'{"bid":"1"}'},
    )
    assert await raw_redis.xlen(bus_namespace + CALLBACK_QUEUE) == 1
    assert RedisBus("redis://unused", namespace="").engine_stream == "engine-stream"


async def test_ts_us_is_the_stream_id_milliseconds(bus: RedisBus) -> None:
    for n in range(3):
        await bus.publish("price-update", {"n": n}, f"req-{n}")

    for entry in await bus.read_entries(START_ID, 10, 0):
        assert entry.ts_us == int(entry.entry_id.split("-")[0]) * 1000


async def test_a_block_longer_than_the_socket_timeout_is_clamped(
    redis_url: str, bus_namespace: str
) -> None:
    # Unclamped, XREAD BLOCK 5000 on a 0.5 s socket timeout raises a redis TimeoutError.
    bus = RedisBus(redis_url, namespace=bus_namespace, socket_timeout_s=0.5)
    try:
        async with asyncio.timeout(GUARD_S):
            assert await bus.read_entries(START_ID, 10, 5000) == []
            assert await bus.read_callbacks(START_ID, 10, 5000) == []
    finally:
        await bus.close()


async def test_resp3_replies_read_the_same(
    redis_url: str, bus_namespace: str, raw_redis: Redis
) -> None:
    separator = "&" if "?" in redis_url else "?"
    bus = RedisBus(f"{redis_url}{separator}protocol=3", namespace=bus_namespace)
    try:
        entry_id = (await bus.publish("price-update", {"bid": "2"}, "req-3")).entry_id
        await bus.publish_callbacks([b'{"id":"req-3"}'])

        (entry,) = await bus.read_entries(START_ID, 10, 0)
        (callback,) = await bus.read_callbacks(START_ID, 10, 0)
    finally:
        await bus.close()
    assert (entry.entry_id, entry.payload) == (entry_id, {"bid": "2"})
    assert callback.body == b'{"id":"req-3"}'


async def test_an_unreachable_server_raises_bus_unavailable() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", socket_timeout_s=1.0)
    try:
        with pytest.raises(BusUnavailableError):
            await bus.publish("price-update", {}, "req-x")
        with pytest.raises(BusUnavailableError):
            await bus.read_entries(START_ID, 10, 100)
        with pytest.raises(BusUnavailableError):
            await bus.publish_callbacks([b"{}"])
        with pytest.raises(BusUnavailableError):
            await bus.last_callback_id()
    finally:
        await bus.close()


async def test_the_bus_works_again_after_its_connections_are_killed(
    redis_url: str, bus_namespace: str, raw_redis: Redis
) -> None:
    name = f"tradepro-test-{bus_namespace.strip(':')}"
    bus = RedisBus(redis_url, namespace=bus_namespace, client_name=name)
    try:
        await bus.publish("price-update", {"n": 1}, "req-1")
        killed = 0
        for client in await raw_redis.client_list():  # only this bus's connections
            if client.get("name") == name:
                killed += await raw_redis.client_kill_filter(_id=client["id"])
        assert killed >= 1

        for _ in range(3):  # a dead pooled connection may cost one unavailable call
            try:
                await bus.publish("price-update", {"n": 2}, "req-2")
                break
            except BusUnavailableError:
                continue
        entries = await bus.read_entries(START_ID, 10, 0)
    finally:
        await bus.close()

    assert [entry.request_id for entry in entries] == ["req-1", "req-2"]


async def test_the_callback_queue_is_capped(
    redis_url: str, bus_namespace: str, raw_redis: Redis
) -> None:
    bus = RedisBus(redis_url, namespace=bus_namespace, callback_maxlen=10)
    try:
        for _ in range(5):
            await bus.publish_callbacks([b"{}"] * 100)
    finally:
        await bus.close()

    assert await raw_redis.xlen(bus_namespace + CALLBACK_QUEUE) == 10


async def test_the_bytes_beside_the_callback_queue_are_its_bodies(
    bus: RedisBus, bus_namespace: str, raw_redis: Redis
) -> None:
    bus.callback_max_bytes = 5_000
    for n in range(30):
        await bus.publish_callbacks([b"z" * (n * 37 % 900)] * 3)
    kept = [callback.body for callback in await bus.read_callbacks(START_ID, 1000, 0)]
    counted = int(await raw_redis.get(bus_namespace + CALLBACK_QUEUE + CALLBACK_BYTES_SUFFIX))
    assert counted == sum(len(body) for body in kept) <= 5_000


async def test_cancelling_a_reader_always_stops_it(bus: RedisBus) -> None:
    # redis-py on Python 3.11 can swallow a cancellation that lands as a command is sent;
    # a reader loop cancelled at that moment would then run on forever.
    finished = asyncio.Event()  # so a failing run still ends its readers

    async def read_forever() -> None:
        while not finished.is_set():
            await bus.read_callbacks(START_ID, 10, 1000)

    readers: list[asyncio.Task[None]] = []
    try:
        for spins in range(20):
            readers.append(asyncio.create_task(read_forever()))
            for _ in range(spins % 10):
                await asyncio.sleep(0)
            readers[-1].cancel()
            done, _ = await asyncio.wait([readers[-1]], timeout=GUARD_S)
            assert done, f"the reader ignored its cancellation (after {spins} spins)"
    finally:
        finished.set()
        await asyncio.wait(readers, timeout=GUARD_S)
