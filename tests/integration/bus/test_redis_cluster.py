"""The bus, the shard lease and the shared rate limit on a Redis Cluster of three masters
(started by the tests): every script touches keys of one slot, and the fencing holds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.support.stack import eventually
from tradepro.bus.base import LeaseLostError
from tradepro.bus.factory import open_bus
from tradepro.bus.lease import ShardLease
from tradepro.bus.ratelimit import RedisRateLimiter
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester
from tradepro.bus.shards import ShardedBus, shard_buses

pytestmark = pytest.mark.integration


def shard_bus(url: str, namespace: str, shard: int) -> RedisBus:
    return RedisBus(url, namespace=namespace, shard=shard, tagged=True, cluster=True)


async def test_streams_and_callbacks_of_two_shards_on_the_cluster(
    redis_cluster_url: str, bus_namespace: str, tmp_path: Path
) -> None:
    bus = open_bus(redis_cluster_url, tmp_path, namespace=bus_namespace, shards=2, cluster=True)
    engines = [shard_bus(redis_cluster_url, bus_namespace, k) for k in range(2)]
    try:
        assert isinstance(bus, ShardedBus)
        price = await bus.publish("price-update", {"asset": "BTC_USDC"}, "p1")
        for engine in engines:  # every shard's stream got the price
            [entry] = await engine.read_entries("0", 10, 0)
            assert (entry.kind, entry.request_id) == ("price-update", "p1")
        assert price.kind == "price-update"
        # Each engine answers on its own queue (a batch in one script, with the fenced
        # pipeline path too); one requester reads both.
        requester = Requester(bus, timeout_s=10)
        await requester.start()
        try:
            for number, engine in enumerate(engines):
                body = f'{{"id":"r{number}","status":"account","entryId":"1-0"}}'.encode()
                await engine.publish_callbacks_and_read([body], "0", 10)
            await eventually(
                lambda: all(i is not None and i != "0" for i in requester.last_seen_ids),
                10,
                "both shards' callbacks read",
            )
        finally:
            await requester.stop()
        assert [len(await b.read_callbacks("0", 10, 0)) for b in shard_buses(bus)] == [1, 1]
        await engines[0].trim_entries(price.entry_id)  # never the entry itself
        assert len(await engines[0].read_entries("0", 10, 0)) == 1
    finally:
        await bus.close()
        for engine in engines:
            await engine.close()


async def test_the_lease_fences_a_stale_engine_on_the_cluster(
    redis_cluster_url: str, bus_namespace: str
) -> None:
    def lease() -> ShardLease:
        return ShardLease(redis_cluster_url, namespace=bus_namespace, shard=1, ttl_ms=1000,
                          renew_ms=250, tagged=True, cluster=True)  # fmt: skip

    old, new = lease(), lease()
    stale, current = (shard_bus(redis_cluster_url, bus_namespace, 1) for _ in range(2))
    try:
        epoch = await old.try_acquire()
        assert epoch is not None and await new.try_acquire() is None
        stale.fence(old.epoch_key, epoch)
        await stale.publish_callbacks([b'{"id":"a","status":"ok"}'])
        deadline = time.monotonic() + 10
        while await new.try_acquire() is None:  # old never renews: its lease expires
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert new.epoch == epoch + 1
        current.fence(new.epoch_key, new.epoch)
        with pytest.raises(LeaseLostError):
            await stale.publish_callbacks([b'{"id":"b","status":"ok"}'])
        with pytest.raises(LeaseLostError):
            await stale.trim_entries("1-0")
        await current.publish_callbacks([b'{"id":"c","status":"ok"}'])
        bodies = [c.body for c in await current.read_callbacks("0", 10, 0)]
        assert bodies == [b'{"id":"a","status":"ok"}', b'{"id":"c","status":"ok"}']
    finally:
        for item in (old, new):
            await item.close()
        for bus in (stale, current):
            await bus.close()


async def test_rate_limits_are_shared_on_the_cluster(
    redis_cluster_url: str, bus_namespace: str
) -> None:
    first = RedisRateLimiter(redis_cluster_url, bus_namespace, cluster=True)
    second = RedisRateLimiter(redis_cluster_url, bus_namespace, cluster=True)
    try:
        assert [await first.hit("signup:a", 3, 3600) for _ in range(3)] == [0, 0, 0]
        assert await second.hit("signup:a", 3, 3600) > 0  # the other process's hits count
        assert await second.hit("signup:b", 3, 3600) == 0
    finally:
        await first.close()
        await second.close()
