"""Two ``tradepro engine`` processes on one Redis + PostgreSQL: the shard's lease lets only
one apply the stream. The other is a hot standby that takes over when the primary dies
(SIGKILL) or freezes (SIGSTOP); a frozen primary resumed afterwards (SIGCONT) is fenced
off: its publishes and saves are refused and it steps down with its own exit code."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as redis
from sqlalchemy import select

from tests.support.stack import CallbackCollector, EngineProcess, eventually
from tests.support.ws import (
    OrderLoad,
    create_order,
    engine_answers,
    open_order_ids,
    publish_price,
    register,
)
from tradepro.bus.base import entry_order
from tradepro.bus.lease import ShardLease
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester
from tradepro.db.migrate import upgrade
from tradepro.db.session import open_database
from tradepro.db.snapshot_store import ENGINE_STATE, LEASES, SnapshotFencedError, SnapshotStore
from tradepro.engine import EngineConfig
from tradepro.services.engine.main import EXIT_FENCED
from tradepro.services.engine.worker import EngineWorker

pytestmark = pytest.mark.integration

STANDBY = "standby for shard 0, following entry"
TOOK_OVER = "took over shard 0 at entry"


@dataclass
class Shared:
    env: dict[str, str]
    bus: RedisBus
    requester: Requester
    database_url: str
    replies: CallbackCollector


@pytest.fixture
async def shared(
    redis_url: str, bus_namespace: str, postgres_url: str, tmp_path: Path
) -> AsyncIterator[Shared]:
    env = {
        "REDIS_URL": redis_url,
        "DATABASE_URL": postgres_url,
        "TRADEPRO_BUS_NAMESPACE": bus_namespace,
        "TRADEPRO_DATA_DIR": str(tmp_path / "data"),
        "MAX_PRICE_AGE_S": "3600",
        "SNAPSHOT_INTERVAL_S": "0.5",
        "LOG_LEVEL": "INFO",
    }
    bus = RedisBus(redis_url, namespace=bus_namespace)
    requester = Requester(bus, timeout_s=10.0)
    await requester.start()
    replies = CallbackCollector(bus)
    replies.start()
    yield Shared(env, bus, requester, postgres_url, replies)
    await replies.stop()
    await requester.stop()
    await bus.close()


def same_content_only(replies: CallbackCollector) -> dict[str, list[dict[str, Any]]]:
    """Callback ids published more than once with different bodies (must stay empty)."""
    return {
        rid: bodies
        for rid, bodies in replies.bodies.items()
        if len({orjson.dumps(body, option=orjson.OPT_SORT_KEYS) for body in bodies}) > 1
    }


async def start_pair(shared: Shared, tmp_path: Path) -> tuple[EngineProcess, EngineProcess]:
    first = EngineProcess(shared.env, tmp_path / "first.log")
    second = EngineProcess(shared.env, tmp_path / "second.log")
    first.start()
    await engine_answers(shared.requester, first)
    second.start()
    await eventually(lambda: STANDBY in second.log_tail(200), 60, "the second engine to wait")
    return first, second


async def test_two_engines_for_one_shard_only_one_applies(shared: Shared, tmp_path: Path) -> None:
    first, second = await start_pair(shared, tmp_path)
    try:
        trader = await register(shared.requester)
        await publish_price(shared.bus, "SOL_USDC", "180.00", "180.02")
        orders = [await create_order(shared.requester, trader, asset="SOL_USDC", qty="1")
                  for _ in range(10)]  # fmt: skip
        await eventually(lambda: all(o["orderId"] in str(shared.replies.bodies) for o in orders),
                         10, "every reply collected")  # fmt: skip
        twice = {rid: bodies for rid, bodies in shared.replies.bodies.items() if len(bodies) > 1}
        assert twice == {}, "a request answered twice: two engines applied the stream"
        assert first.alive() and second.alive(), second.log_tail()
        assert "holds the lease of shard 0 (epoch 1)" in first.log_tail(200)
        assert "holds the lease of shard" not in second.log_tail(200)
        assert TOOK_OVER not in second.log_tail(200)
    finally:
        first.close()
        second.close()


async def test_sigkill_of_the_primary_under_load_the_standby_takes_over_and_keeps_every_order(
    shared: Shared, tmp_path: Path
) -> None:
    first, second = await start_pair(shared, tmp_path)
    load: OrderLoad | None = None
    try:
        trader = await register(shared.requester)
        await publish_price(shared.bus, "SOL_USDC", "180.00", "180.02")
        load = OrderLoad(shared.requester, trader)
        load.start(clients=4)
        await eventually(lambda: len(load.acknowledged) >= 50, 30, "orders before the kill")
        first.kill()
        answered_at_kill = len(load.acknowledged)
        await eventually(lambda: TOOK_OVER in second.log_tail(200), 30, "the standby to take over")
        await eventually(lambda: len(load.acknowledged) >= answered_at_kill + 50, 30,
                         "orders answered by the new primary")  # fmt: skip
        await load.stop()

        open_ids = await open_order_ids(shared.requester, trader)
        missing = set(load.order_ids) - open_ids
        assert missing == set(), (
            f"{len(missing)} acknowledged orders lost in the failover: "
            f"{[shared.replies.bodies.get(i) for i in sorted(missing)][:3]}"
        )
        assert same_content_only(shared.replies) == {}
        assert "epoch 2" in second.log_tail(200)
        assert second.alive(), second.log_tail()
    finally:
        if load is not None and not load._stop.is_set():
            await load.stop()
        first.close()
        second.close()


async def test_a_frozen_primary_resumed_cannot_publish_or_save_and_steps_down(
    shared: Shared, tmp_path: Path
) -> None:
    first, second = await start_pair(shared, tmp_path)
    database = open_database(shared.database_url)
    try:
        trader = await register(shared.requester)
        await publish_price(shared.bus, "SOL_USDC", "180.00", "180.02")
        before = [await create_order(shared.requester, trader, asset="SOL_USDC", qty="1")
                  for _ in range(3)]  # fmt: skip
        assert first.process is not None
        os.kill(first.process.pid, signal.SIGSTOP)
        await eventually(lambda: TOOK_OVER in second.log_tail(200), 30, "the standby to take over")
        # The new primary answers; these entries are what the frozen one will find waiting.
        after = [await create_order(shared.requester, trader, asset="SOL_USDC", qty="1")
                 for _ in range(5)]  # fmt: skip

        async def saved_by_new_primary() -> bool:
            async with database.connect() as connection:
                epoch = (await connection.execute(select(LEASES.c.epoch))).scalar_one()
                state = (await connection.execute(select(ENGINE_STATE.c.last_entry_id))).one()
            return bool(epoch == 2 and state.last_entry_id)

        await eventually(saved_by_new_primary, 20, "a save by the new primary")
        callbacks_before = await shared.bus.read_callbacks("0", 100_000, 0)

        os.kill(first.process.pid, signal.SIGCONT)
        code = first.process.wait(30)
        first.process = None
        assert code == EXIT_FENCED, first.log_tail()
        log = first.log_tail(200)
        assert "stepping down from shard 0" in log, log
        assert "final snapshot saved" not in log

        # Nothing of the stale engine reached the callback queue: every callback since is
        # one the new primary published (answers to new requests only).
        probe = await create_order(shared.requester, trader, asset="SOL_USDC", qty="1")
        callbacks_after = await shared.bus.read_callbacks("0", 100_000, 0)
        new = [orjson.loads(c.body) for c in callbacks_after[len(callbacks_before) :]]
        assert [body["order"]["orderId"] for body in new] == [probe["orderId"]], new
        assert same_content_only(shared.replies) == {}
        twice = {rid: bodies for rid, bodies in shared.replies.bodies.items() if len(bodies) > 1}
        assert twice == {}

        # The snapshot row is still the new primary's: stop it cleanly, restore, compare.
        assert second.terminate() == 0
        async with database.connect() as connection:
            assert (await connection.execute(select(LEASES.c.epoch))).scalar_one() == 2
        third = EngineProcess(shared.env, tmp_path / "third.log")
        third.start()
        try:
            await engine_answers(shared.requester, third)
            ids = await open_order_ids(shared.requester, trader)
            assert ids == {o["orderId"] for o in [*before, *after, probe]}
        finally:
            third.close()
    finally:
        if first.process is not None:
            os.kill(first.process.pid, signal.SIGCONT)
        first.close()
        second.close()
        await database.dispose()


async def test_an_old_epoch_cannot_be_replayed_into_the_database(
    shared: Shared, tmp_path: Path
) -> None:
    """A restarted engine never reuses an epoch: the counter lives in Redis, and the
    database refuses a claim that is not newer than what it holds."""
    engine = EngineProcess(shared.env, tmp_path / "engine.log")
    engine.start()
    try:
        await engine_answers(shared.requester, engine)
        assert engine.terminate() == 0  # releases the lease
        engine.start()
        await engine_answers(shared.requester, engine)
        assert "holds the lease of shard 0 (epoch 2)" in engine.log_tail(200)
        database = open_database(shared.database_url)
        try:
            async with database.connect() as connection:
                assert (await connection.execute(select(LEASES.c.epoch))).scalar_one() == 2
        finally:
            await database.dispose()
        await shared.requester.send_request_and_wait("get-account", {"userId": str(uuid.uuid4())})
    finally:
        engine.close()


async def test_a_redis_that_lost_the_epoch_counter_never_reissues_an_epoch(
    shared: Shared, tmp_path: Path, redis_url: str, bus_namespace: str
) -> None:
    engine = EngineProcess(shared.env, tmp_path / "engine.log")
    engine.start()
    client = redis.Redis.from_url(redis_url)
    try:
        await engine_answers(shared.requester, engine)
        assert engine.terminate() == 0
        await client.delete(f"{bus_namespace}engine-epoch:0")  # Redis lost its data
        engine.start()
        await engine_answers(shared.requester, engine)
        log = engine.log_tail(200)
        assert "lease epoch was behind the database's (1)" in log, log
        assert "holds the lease of shard 0 (epoch 2)" in log, log
    finally:
        await client.aclose()
        engine.close()


async def test_a_primary_whose_save_is_refused_steps_down_and_saves_nothing(
    redis_url: str, bus_namespace: str, postgres_url: str
) -> None:
    """The database's epoch alone also fences: a save under an old epoch writes nothing,
    and the engine stops applying at once."""
    await upgrade(postgres_url)
    database = open_database(postgres_url)
    bus = RedisBus(redis_url, namespace=bus_namespace)
    lease = ShardLease(redis_url, namespace=bus_namespace, ttl_ms=1000, renew_ms=200)
    worker = EngineWorker(bus, SnapshotStore(database), EngineConfig(), snapshot_interval_s=0.2,
                          lease=lease)  # fmt: skip
    requester = Requester(bus, timeout_s=5.0)
    await requester.start()
    running = asyncio.create_task(worker.run(asyncio.Event()))
    try:
        await register(requester)
        saved = SnapshotStore(database)
        await eventually(lambda: _saved(saved), 10, "a first save")
        # Another engine claims epoch 2 in the database (its Redis side is not needed).
        await saved.claim(2)
        before = await saved.saved_entry_id()
        await bus.publish("register-user", {"userId": str(uuid.uuid4())}, str(uuid.uuid4()))
        await asyncio.wait_for(running, 10)
        assert isinstance(worker.fenced, SnapshotFencedError)
        assert await saved.saved_entry_id() == before
        assert await lease.current_epoch() == 1
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await requester.stop()
        await bus.close()
        await database.dispose()


async def _saved(store: SnapshotStore) -> bool:
    return await store.saved_entry_id() is not None


async def test_a_clean_stop_hands_the_lease_over_with_every_order(
    shared: Shared, tmp_path: Path
) -> None:
    """SIGTERM (a rolling deploy): the primary saves its final snapshot and releases the
    lease, the standby takes over with every order, and nothing is answered twice."""
    first, second = await start_pair(shared, tmp_path)
    try:
        trader = await register(shared.requester)
        await publish_price(shared.bus, "SOL_USDC", "180.00", "180.02")
        before = [await create_order(shared.requester, trader, asset="SOL_USDC", qty="1")
                  for _ in range(5)]  # fmt: skip
        assert first.terminate() == 0
        assert "final snapshot saved" in first.log_tail(200)
        after = await create_order(shared.requester, trader, asset="SOL_USDC", qty="1")
        # Its answer may be one the standby published while taking over, just before
        # the log line.
        await eventually(lambda: TOOK_OVER in second.log_tail(200), 10, "the takeover line")
        ids = await open_order_ids(shared.requester, trader)
        assert ids == {order["orderId"] for order in [*before, after]}
        twice = {rid: bodies for rid, bodies in shared.replies.bodies.items() if len(bodies) > 1}
        assert twice == {}
    finally:
        first.close()
        second.close()


async def test_the_primary_never_trims_entries_a_standby_has_not_read(
    redis_url: str, bus_namespace: str, postgres_url: str
) -> None:
    await upgrade(postgres_url)
    database = open_database(postgres_url)
    bus = RedisBus(redis_url, namespace=bus_namespace)
    lease = ShardLease(redis_url, namespace=bus_namespace, ttl_ms=1000, renew_ms=200)
    follower = ShardLease(redis_url, namespace=bus_namespace, ttl_ms=1000, renew_ms=200)
    worker = EngineWorker(bus, SnapshotStore(database), EngineConfig(), snapshot_interval_s=0.1,
                          lease=lease)  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    client = redis.Redis.from_url(redis_url)
    stream = f"{bus_namespace}engine-stream"

    async def publish(count: int) -> str:
        entry_id = ""
        for _ in range(count):
            user = str(uuid.uuid4())
            entry_id = (await bus.publish("register-user", {"userId": user}, user)).entry_id
        return entry_id

    async def first_entry() -> str:
        oldest = await client.xrange(stream, count=1)
        return str(oldest[0][0].decode())

    try:
        behind = await publish(1)
        await eventually(lambda: _saved_at(worker, behind), 30, "the primary's first save")
        await follower.report_position(behind)  # a standby that has read only this far
        last = await publish(600)
        await eventually(lambda: _saved_at(worker, last), 30, "a save past every entry")
        await publish(1)  # one more save and trim after the position was reported
        await eventually(lambda: _saved_past(worker, last), 30, "another save")
        # The standby's next entry is still there.
        assert entry_order(await first_entry()) <= entry_order(behind)

        await follower.forget_position()  # the standby is gone: trims go on
        await publish(1)
        await eventually(lambda: _trimmed_past(first_entry, behind), 30, "a trim past it")
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        await follower.close()
        await client.aclose()
        await bus.close()
        await database.dispose()


def _saved_at(worker: EngineWorker, entry_id: str) -> bool:
    return worker.snapshot_entry_id == entry_id


def _saved_past(worker: EngineWorker, entry_id: str) -> bool:
    return entry_order(worker.snapshot_entry_id) > entry_order(entry_id)


async def _trimmed_past(first_entry: Callable[[], Awaitable[str]], entry_id: str) -> bool:
    return entry_order(await first_entry()) > entry_order(entry_id)
