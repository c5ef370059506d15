"""The shard lease against a real Redis (and its epoch in a real PostgreSQL): winning,
renewing, expiry, monotonic epochs, and the fencing of callback publishes and of
snapshot saves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from tests.support.stack import eventually
from tradepro.bus.base import LeaseLostError
from tradepro.bus.lease import ShardLease
from tradepro.bus.redis_bus import RedisBus
from tradepro.db.migrate import upgrade
from tradepro.db.session import open_database
from tradepro.db.snapshot_store import SnapshotFencedError, SnapshotStore
from tradepro.engine import Engine, EngineConfig
from tradepro.engine.snapshot import snapshot_header

pytestmark = pytest.mark.integration

TTL_MS = 1000
RENEW_MS = 250


@pytest.fixture
async def leases(redis_url: str, bus_namespace: str) -> AsyncIterator[list[ShardLease]]:
    made: list[ShardLease] = []
    yield made
    for lease in made:
        await lease.close()


def new_lease(made: list[ShardLease], url: str, namespace: str, shard: int = 0) -> ShardLease:
    lease = ShardLease(url, namespace=namespace, shard=shard, ttl_ms=TTL_MS, renew_ms=RENEW_MS)
    made.append(lease)
    return lease


async def test_only_one_engine_wins_a_free_lease(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    first = new_lease(leases, redis_url, bus_namespace)
    second = new_lease(leases, redis_url, bus_namespace)
    won = await asyncio.gather(first.try_acquire(), second.try_acquire())
    assert sorted(won, key=lambda epoch: epoch or 0) == [None, 1]
    holder = first if won[0] else second
    assert await holder.holder_epoch() == 1
    assert await holder.current_epoch() == 1


async def test_renewal_keeps_the_lease_past_its_ttl(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    primary = new_lease(leases, redis_url, bus_namespace)
    standby = new_lease(leases, redis_url, bus_namespace)
    assert await primary.try_acquire() == 1
    primary.start_renewing()
    for _ in range(8):  # twice the TTL, trying as a standby does
        await asyncio.sleep(RENEW_MS / 1000)
        assert await standby.try_acquire() is None
    assert not primary.lost.is_set()
    assert await primary.holder_epoch() == 1


async def test_an_unrenewed_lease_expires_and_the_next_winner_gets_a_higher_epoch(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    primary = new_lease(leases, redis_url, bus_namespace)
    standby = new_lease(leases, redis_url, bus_namespace)
    assert await primary.try_acquire() == 1
    # The primary is frozen: it does not renew. The standby wins once the TTL has passed.
    assert await standby.try_acquire() is None
    await eventually(lambda: _won(standby), 5, "the standby to win the expired lease")
    assert standby.epoch == 2
    # The frozen primary wakes up: its compare-and-extend fails, and it knows it lost.
    assert await primary.renew() is False
    assert primary.lost.is_set()
    assert await primary.holder_epoch() == 2  # it did not take the lease back


async def _won(lease: ShardLease) -> bool:
    return await lease.try_acquire() is not None


async def test_epochs_only_grow_across_many_handovers(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    seen: list[int] = []
    for _ in range(5):
        engine = new_lease(leases, redis_url, bus_namespace)
        epoch = await engine.try_acquire()
        assert epoch is not None
        seen.append(epoch)
        await engine.release()
    assert seen == sorted(seen) and len(set(seen)) == 5


async def test_an_expired_lease_nobody_took_is_renewed_with_the_same_epoch(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    primary = new_lease(leases, redis_url, bus_namespace)
    assert await primary.try_acquire() == 1
    await eventually(lambda: _free(primary), 5, "the lease to expire")
    assert await primary.renew() is True
    assert await primary.holder_epoch() == 1
    assert not primary.lost.is_set()


async def _free(lease: ShardLease) -> bool:
    return await lease.holder_epoch() is None


async def test_release_frees_the_lease_only_for_its_holder(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    old = new_lease(leases, redis_url, bus_namespace)
    new = new_lease(leases, redis_url, bus_namespace)
    assert await old.try_acquire() == 1
    await eventually(lambda: _won(new), 5, "the lease to change hands")
    await old.release()  # a stale holder's release must not free its successor's lease
    assert await new.holder_epoch() == 2
    await new.release()
    assert await new.holder_epoch() is None


async def test_shards_have_leases_of_their_own(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    zero = new_lease(leases, redis_url, bus_namespace, shard=0)
    one = new_lease(leases, redis_url, bus_namespace, shard=1)
    assert await zero.try_acquire() == 1
    assert await one.try_acquire() == 1


async def test_the_publish_script_refuses_a_stale_epoch_and_appends_nothing(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    old = new_lease(leases, redis_url, bus_namespace)
    new = new_lease(leases, redis_url, bus_namespace)
    stale_bus = RedisBus(redis_url, namespace=bus_namespace)
    current_bus = RedisBus(redis_url, namespace=bus_namespace)
    try:
        epoch = await old.try_acquire()
        assert epoch is not None
        stale_bus.fence(old.epoch_key, epoch)
        await stale_bus.publish_callbacks([b'{"id":"a","status":"ok","entryId":"1-0"}'])
        await eventually(lambda: _won(new), 5, "the standby to win")
        assert new.epoch is not None
        current_bus.fence(new.epoch_key, new.epoch)

        with pytest.raises(LeaseLostError):
            await stale_bus.publish_callbacks([b'{"id":"b","status":"ok","entryId":"2-0"}'])
        with pytest.raises(LeaseLostError):  # the engine's usual path: publish and read
            await stale_bus.publish_callbacks_and_read(
                [b'{"id":"c","status":"ok","entryId":"3-0"}'], "0", 10
            )
        await current_bus.publish_callbacks([b'{"id":"d","status":"ok","entryId":"4-0"}'])
        bodies = [callback.body for callback in await current_bus.read_callbacks("0", 10, 0)]
        assert [b'"id":"a"' in body for body in bodies] == [True, False]
        assert b'"id":"d"' in bodies[-1]
    finally:
        await stale_bus.close()
        await current_bus.close()


async def test_an_unfenced_publish_still_works(redis_url: str, bus_namespace: str) -> None:
    bus = RedisBus(redis_url, namespace=bus_namespace)
    try:
        await bus.publish_callbacks([b'{"id":"a","status":"ok"}'])
        assert len(await bus.read_callbacks("0", 10, 0)) == 1
    finally:
        await bus.close()


async def test_a_snapshot_save_with_a_stale_epoch_writes_nothing(postgres_url: str) -> None:
    await upgrade(postgres_url)
    database = open_database(postgres_url)
    try:
        old, new = SnapshotStore(database), SnapshotStore(database)
        engine = Engine(EngineConfig())
        await old.claim(1)
        await old.save(snapshot_header(engine), [engine.drain_changes()], "5-0")
        await new.claim(2)
        with pytest.raises(SnapshotFencedError):
            await old.save(snapshot_header(engine), [engine.drain_changes()], "9-0")
        assert await new.saved_entry_id() == "5-0"
        await new.save(snapshot_header(engine), [engine.drain_changes()], "7-0")
        assert await new.saved_entry_id() == "7-0"
        with pytest.raises(SnapshotFencedError):  # a late claim of an older epoch
            await old.claim(1)
        assert await new.stored_epoch() == 2
    finally:
        await database.dispose()


async def test_a_claim_waits_for_a_save_in_progress(postgres_url: str) -> None:
    """The save locks the lease row first: a successor's claim cannot slip in between the
    check and the commit."""
    await upgrade(postgres_url)
    database = open_database(postgres_url)
    try:
        old, new = SnapshotStore(database), SnapshotStore(database)
        await old.claim(1)
        async with database.begin() as connection:
            await old._check_epoch(connection)
            claiming = asyncio.ensure_future(new.claim(2))
            await asyncio.sleep(0.3)
            assert not claiming.done()  # blocked on the row lock
        await claiming
        assert await new.stored_epoch() == 2
    finally:
        await database.dispose()


async def test_lease_keys_are_named_per_shard_in_the_namespace(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    lease = new_lease(leases, redis_url, bus_namespace, shard=3)
    assert await lease.try_acquire() == 1
    client = redis.Redis.from_url(redis_url)
    try:
        assert await client.get(f"{bus_namespace}engine-lease:3") == b"1"
        assert await client.get(f"{bus_namespace}engine-epoch:3") == b"1"
        ttl = await client.pttl(f"{bus_namespace}engine-lease:3")
        assert 0 < ttl <= TTL_MS
    finally:
        await client.aclose()


async def test_the_epoch_floor_keeps_a_reset_redis_from_reusing_an_epoch(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    lease = new_lease(leases, redis_url, bus_namespace)
    assert await lease.raise_epoch_floor(7) is True  # a Redis without the counter
    assert await lease.raise_epoch_floor(3) is False  # never lowered
    assert await lease.try_acquire() == 8


async def test_a_new_primary_forgets_only_its_own_standby_position(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    new_primary = new_lease(leases, redis_url, bus_namespace)
    other_standby = new_lease(leases, redis_url, bus_namespace)
    await new_primary.report_position("5-0")
    await new_primary.forget_position()
    assert await other_standby.follower_position() is None

    await new_primary.report_position("6-0")
    await other_standby.report_position("4-0")  # reported after ours: not ours to delete
    await new_primary.forget_position()
    assert await other_standby.follower_position() == "4-0"


async def test_a_stale_engine_cannot_trim_the_stream(
    leases: list[ShardLease], redis_url: str, bus_namespace: str
) -> None:
    old = new_lease(leases, redis_url, bus_namespace)
    new = new_lease(leases, redis_url, bus_namespace)
    stale_bus = RedisBus(redis_url, namespace=bus_namespace)
    try:
        epoch = await old.try_acquire()
        assert epoch is not None
        stale_bus.fence(old.epoch_key, epoch)
        ids = [(await stale_bus.publish("price-update", {}, str(n))).entry_id for n in range(300)]
        await stale_bus.trim_entries(ids[0])  # fenced, still ours: allowed (keeps ids[0])
        assert (await stale_bus.read_entries("0", 1, 0))[0].entry_id == ids[0]
        await eventually(lambda: _won(new), 5, "the standby to win")
        with pytest.raises(LeaseLostError):
            await stale_bus.trim_entries(ids[-1])
        assert (await stale_bus.read_entries("0", 1, 0))[0].entry_id == ids[0]
    finally:
        await stale_bus.close()
