"""Two engine shards as real processes (``tradepro engine --shard K``), one ``tradepro ws``
reading both, on one Redis and on a Redis Cluster: each user gets their own order events,
including the closes their shard's engine makes by itself on a price, and nobody else's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.support.servers import free_port
from tests.support.stack import ServiceProcess, eventually
from tests.support.ws import (
    JWT_SECRET,
    Inbox,
    Trader,
    WsProcess,
    create_order,
    publish_price,
    register,
)
from tradepro.bus.base import Bus
from tradepro.bus.factory import open_bus
from tradepro.bus.names import shard_of
from tradepro.bus.requests import Requester, RequestTimeoutError
from tradepro.bus.shards import ShardedBus

pytestmark = pytest.mark.integration

SHARDS = 2


@pytest.fixture(params=["redis", "cluster"])
def shard_env(request: pytest.FixtureRequest, bus_namespace: str) -> dict[str, str]:
    """The settings every process of the deployment shares: one Redis or a cluster."""
    on_cluster = request.param == "cluster"
    url = request.getfixturevalue("redis_cluster_url" if on_cluster else "redis_url")
    return {
        "REDIS_URL": url,
        "REDIS_CLUSTER": "1" if on_cluster else "0",
        "TRADEPRO_BUS_NAMESPACE": bus_namespace,
        "ENGINE_SHARDS": str(SHARDS),
    }


@pytest.fixture
def engines(
    shard_env: dict[str, str], database_url: str, tmp_path: Path
) -> Iterator[list[ServiceProcess]]:
    """One engine process per shard; one chosen by ``--shard``, the other by ENGINE_SHARD."""
    env = shard_env | {
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "MAX_PRICE_AGE_S": "3600",
        "SNAPSHOT_INTERVAL_S": "3600",
    }
    processes = [
        ServiceProcess(
            "engine",
            env | {"TRADEPRO_DATA_DIR": str(tmp_path / "engine-0"), "ENGINE_SHARD": "0"},
            tmp_path / "engine-0.log",
        ),
        ServiceProcess(
            "engine",
            env | {"TRADEPRO_DATA_DIR": str(tmp_path / "engine-1")},
            tmp_path / "engine-1.log",
            ["--shard", "1"],
        ),
    ]
    for process in processes:
        process.start()
    try:
        yield processes
    finally:
        for process in processes:
            process.close()


@pytest.fixture
async def sharded_bus(shard_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Bus]:
    bus = open_bus(
        shard_env["REDIS_URL"],
        tmp_path,
        namespace=shard_env["TRADEPRO_BUS_NAMESPACE"],
        shards=SHARDS,
        cluster=shard_env["REDIS_CLUSTER"] == "1",
    )
    yield bus
    await bus.close()


@pytest.fixture
async def sharded_requester(sharded_bus: Bus) -> AsyncIterator[Requester]:
    requester = Requester(sharded_bus, timeout_s=10.0)
    await requester.start()
    yield requester
    await requester.stop()


def user_of_shard(shard: int) -> str:
    while True:
        user_id = str(uuid.uuid4())
        if shard_of(user_id, SHARDS) == shard:
            return user_id


async def every_shard_answers(requester: Requester, engines: list[ServiceProcess]) -> None:
    for shard, engine in enumerate(engines):

        async def answers(engine: ServiceProcess = engine, shard: int = shard) -> bool:
            assert engine.alive(), engine.log_tail()
            try:
                reply = await requester.send_request_and_wait(
                    "get-account", {"userId": user_of_shard(shard)}, timeout_s=1.0
                )
            except RequestTimeoutError:
                return False
            return bool(reply["status"] == "unknown_user")

        await eventually(answers, 60, f"shard {shard}'s engine to answer")


def order_events(inbox: Inbox) -> list[tuple[str, str, Any]]:
    return [
        (m["event"], m["order"]["orderId"], m["order"].get("reason"))
        for m in inbox.of_type("order")
    ]


async def test_the_ws_service_delivers_each_users_events_from_both_shards(
    engines: list[ServiceProcess],
    sharded_requester: Requester,
    sharded_bus: Bus,
    shard_env: dict[str, str],
    database_url: str,
    tmp_path: Path,
) -> None:
    requester, bus = sharded_requester, sharded_bus
    assert isinstance(bus, ShardedBus)
    await every_shard_answers(requester, engines)
    traders: list[Trader] = []
    while min(sum(shard_of(t.user_id, SHARDS) == k for t in traders) for k in range(2)) < 2:
        traders.append(await register(requester))

    env = shard_env | {"DATABASE_URL": database_url}
    async with WsProcess(env, free_port(), tmp_path / "ws.log").running() as ws_server:
        inboxes = [Inbox(await connect(f"{ws_server.url}?token={t.token}")) for t in traders]
        for inbox in inboxes:
            assert (await inbox.subscribe("orders", "prices.BTC_USDC"))["type"] == "subscriptions"

        await publish_price(bus, "BTC_USDC", "100000.0", "100000.5")  # to both shards
        targets = [await create_order(requester, t, takeProfit="101000.0") for t in traders]
        await publish_price(bus, "BTC_USDC", "101000.0", "101000.5")  # both engines close
        last = [await create_order(requester, t) for t in traders]
        for trader, inbox, order in zip(traders, inboxes, last, strict=True):
            await inbox.first(
                lambda m, o=order: m["type"] == "order" and m["order"]["orderId"] == o["orderId"],
                f"{trader.email}'s last order",
            )
        for inbox, target, order in zip(inboxes, targets, last, strict=True):
            assert order_events(inbox) == [
                ("created", target["orderId"], None),
                ("closed", target["orderId"], "take_profit"),  # made by its shard's engine
                ("created", order["orderId"], None),
            ]
            assert inbox.of_type("price"), "the prices reach every subscriber"
        for engine in engines:
            assert engine.alive(), engine.log_tail()
