"""Failover of one shard on a Redis Cluster: under a steady order load on both shards,
SIGKILL of shard 1's primary; its standby takes over and keeps every acknowledged order,
no callback is published twice with different content, and shard 0 never stops."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.stack import CallbackCollector, EngineProcess, eventually
from tests.support.ws import OrderLoad, Trader, open_order_ids, publish_price
from tradepro.bus.base import Bus
from tradepro.bus.factory import open_bus
from tradepro.bus.names import shard_of
from tradepro.bus.requests import Requester, RequestTimeoutError
from tradepro.bus.shards import shard_buses
from tradepro.db.migrate import upgrade

pytestmark = pytest.mark.integration

SHARDS = 2
STANDBY = "standby for shard 1, following entry"
TOOK_OVER = "took over shard 1 at entry"


@dataclass
class Cluster:
    env: dict[str, str]
    bus: Bus
    requester: Requester
    replies: list[CallbackCollector]


@pytest.fixture
async def cluster(
    redis_cluster_url: str, bus_namespace: str, postgres_url: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    await upgrade(postgres_url)  # once, before three engines start on it
    env = {
        "REDIS_URL": redis_cluster_url,
        "REDIS_CLUSTER": "1",
        "ENGINE_SHARDS": str(SHARDS),
        "DATABASE_URL": postgres_url,
        "TRADEPRO_BUS_NAMESPACE": bus_namespace,
        "TRADEPRO_DATA_DIR": str(tmp_path / "data"),
        "MAX_PRICE_AGE_S": "3600",
        "SNAPSHOT_INTERVAL_S": "0.5",
        "LOG_LEVEL": "INFO",
    }
    bus = open_bus(
        redis_cluster_url, tmp_path, namespace=bus_namespace, shards=SHARDS, cluster=True
    )
    requester = Requester(bus, timeout_s=10.0)
    await requester.start()
    replies = [CallbackCollector(shard) for shard in shard_buses(bus)]
    for collector in replies:
        collector.start()
    yield Cluster(env, bus, requester, replies)
    for collector in replies:
        await collector.stop()
    await requester.stop()
    await bus.close()


def trader_of(shard: int) -> Trader:
    while True:
        user_id = str(uuid.uuid4())
        if shard_of(user_id, SHARDS) == shard:
            return Trader(user_id)


async def answers(requester: Requester, engine: EngineProcess, shard: int) -> bool:
    assert engine.alive(), engine.log_tail()
    try:
        reply = await requester.send_request_and_wait(
            "get-account", {"userId": trader_of(shard).user_id}, timeout_s=1.0
        )
    except RequestTimeoutError:
        return False
    return bool(reply["status"] == "unknown_user")


def differing(replies: CallbackCollector) -> dict[str, Any]:
    return {
        rid: bodies
        for rid, bodies in replies.bodies.items()
        if len({orjson.dumps(body, option=orjson.OPT_SORT_KEYS) for body in bodies}) > 1
    }


async def test_sigkill_of_one_shards_primary_never_stops_the_other_shard(
    cluster: Cluster, tmp_path: Path
) -> None:
    requester = cluster.requester
    shard0 = EngineProcess(cluster.env | {"ENGINE_SHARD": "0"}, tmp_path / "shard0.log")
    primary = EngineProcess(cluster.env | {"ENGINE_SHARD": "1"}, tmp_path / "primary1.log")
    standby = EngineProcess(cluster.env | {"ENGINE_SHARD": "1"}, tmp_path / "standby1.log")
    loads: list[OrderLoad] = []
    try:
        shard0.start()
        await eventually(lambda: answers(requester, shard0, 0), 60, "shard 0 to answer")
        primary.start()
        await eventually(lambda: answers(requester, primary, 1), 60, "shard 1 to answer")
        standby.start()
        await eventually(lambda: STANDBY in standby.log_tail(200), 60, "shard 1's standby")

        traders = [trader_of(0), trader_of(1)]
        for trader in traders:
            reply = await requester.send_request_and_wait(
                "register-user", {"userId": trader.user_id}
            )
            assert reply["status"] == "registered", reply
        await publish_price(cluster.bus, "SOL_USDC", "180.00", "180.02")  # both shards
        loads = [OrderLoad(requester, trader) for trader in traders]
        for load in loads:
            load.start()
        await eventually(lambda: all(len(x.acknowledged) >= 30 for x in loads), 30, "orders")

        primary.kill()
        killed_at = time.monotonic()
        await eventually(lambda: TOOK_OVER in standby.log_tail(200), 30, "the takeover")
        took_over_at = time.monotonic()
        answered = len(loads[1].acknowledged)
        await eventually(lambda: len(loads[1].acknowledged) >= answered + 30, 30,
                         "shard 1 answering again")  # fmt: skip
        for load in loads:
            await load.stop()

        # Shard 0 kept answering while shard 1 had no primary.
        during = [t for t, _ in loads[0].acknowledged if killed_at < t < took_over_at]
        assert len(during) >= 5 or took_over_at - killed_at < 0.5, (
            f"shard 0 answered {len(during)} orders in the {took_over_at - killed_at:.1f}s "
            "shard 1 was failing over"
        )
        assert loads[0].failures == 0
        for load, trader in zip(loads, traders, strict=True):
            missing = set(load.order_ids) - await open_order_ids(requester, trader)
            assert missing == set(), f"{len(missing)} acknowledged orders lost"
        assert [differing(collector) for collector in cluster.replies] == [{}, {}]
        assert shard0.alive(), shard0.log_tail()
        assert standby.alive(), standby.log_tail()
        assert "epoch 2" in standby.log_tail(200)
    finally:
        for load in loads:
            if not load._stop.is_set():
                await load.stop()
        for engine in (shard0, primary, standby):
            engine.close()
