"""Two engine shards (``ENGINE_SHARDS=2``) on one Redis and on a Redis Cluster, behind two
API processes (two apps with their own bus clients and readers, as ``tradepro api``
processes would have): each
user's requests reach their own shard's engine, prices reach both, and either API process
answers any user (each reads every shard's replies)."""

from __future__ import annotations

import pytest

from tests.support.api import API, Session, Stack
from tests.support.stack import eventually
from tradepro.bus.names import shard_of
from tradepro.bus.shards import ShardedBus

SHARDS = 2


async def users_on_every_shard(stack: Stack) -> list[Session]:
    """Sign users in until every shard holds at least two of them."""
    sessions: list[Session] = []
    for _ in range(40):
        sessions.append(await stack.sign_in())
        per_shard = [sum(shard_of(s.user_id, SHARDS) == k for s in sessions) for k in range(2)]
        if min(per_shard) >= 2:
            return sessions
    raise AssertionError(f"40 users all on the same shard: {per_shard}")


@pytest.mark.stack_settings(engine_shards=SHARDS)
async def test_each_users_orders_reach_their_own_shard_and_prices_reach_both(
    redis_or_cluster: Stack,
) -> None:
    stack = redis_or_cluster
    assert isinstance(stack.context.bus, ShardedBus)
    assert len(stack.workers) == SHARDS
    sessions = await users_on_every_shard(stack)
    await stack.publish_price("BTC_USDC", "50000.00", "50010.00")
    await stack.publish_price("ETH_USDC", "3000.00", "3001.00")
    # Every engine marks to market: both apply both prices (each at its own pace).
    await eventually(
        lambda: all({"BTC_USDC", "ETH_USDC"} <= set(w.engine.quotes) for w in stack.workers),
        10,
        "both engines to apply both prices",
    )

    async with stack.another_api() as second:  # a second API process, same bus and database
        order_ids: dict[str, str] = {}
        for number, session in enumerate(sessions):
            client = stack.client if number % 2 else second
            response = await client.post(
                f"{API}/trade/create-order",
                json={"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10},
                headers=session.auth,
            )
            assert response.status_code == 200, response.text
            order_ids[session.user_id] = response.json()["orderId"]

        for number, session in enumerate(sessions):
            home = shard_of(session.user_id, SHARDS)
            for shard, worker in enumerate(stack.workers):
                held = session.user_id in worker.engine.accounts
                assert held == (shard == home), (session.user_id, shard, home)
            # Read through the other API process than the one that placed the order.
            client = second if number % 2 else stack.client
            response = await client.get(f"{API}/trade/get-open-orders", headers=session.auth)
            assert response.status_code == 200, response.text
            assert [o["orderId"] for o in response.json()["orders"]] == [order_ids[session.user_id]]

        closing = sessions[0]
        response = await second.post(
            f"{API}/trade/close-order",
            json={"orderId": order_ids[closing.user_id]},
            headers=closing.auth,
        )
        assert response.status_code == 200, response.text
        assert response.json()["orderId"] == order_ids[closing.user_id]
        assert response.json()["closePrice"] == "50000.0"


@pytest.mark.stack_settings(engine_shards=SHARDS)
async def test_every_shard_saves_and_restores_its_own_users(redis_or_cluster: Stack) -> None:
    stack = redis_or_cluster
    sessions = await users_on_every_shard(stack)
    await stack.publish_price("BTC_USDC", "50000.00", "50010.00")
    for session in sessions:
        assert (await stack.create_order(session)).status_code == 200
    await stack.stop_engine()  # final snapshot of each shard
    await stack.start_engine()  # each shard restores its own state only
    for session in sessions:  # answered once its shard has restored
        assert len(await stack.open_orders(session)) == 1
    for session in sessions:
        home = shard_of(session.user_id, SHARDS)
        for shard, worker in enumerate(stack.workers):
            held = session.user_id in worker.engine.accounts
            assert held == (shard == home), (session.user_id, shard, home)
            if held:
                assert len(worker.engine.accounts[session.user_id].positions) == 1


@pytest.mark.stack_settings(engine_shards=SHARDS)
async def test_health_names_the_shard_whose_engine_does_not_answer(redis_or_cluster: Stack) -> None:
    stack = redis_or_cluster
    sessions = await users_on_every_shard(stack)  # signed up while both engines answer
    await stack.publish_price("BTC_USDC", "50000.00", "50010.00")
    healthy = await stack.client.get("/health")
    assert healthy.status_code == 200, healthy.text
    assert healthy.json() == {
        "status": "ok",
        "engine": True,
        "shards": [{"shard": 0, "engine": "ok"}, {"shard": 1, "engine": "ok"}],
    }
    await stack.stop_shard(1)
    degraded = await stack.client.get("/health")
    assert degraded.status_code == 503
    body = degraded.json()
    assert body["status"] == "degraded" and body["engine"] is False
    assert body["shards"] == [
        {"shard": 0, "engine": "ok"},
        {"shard": 1, "engine": "not answering"},
    ]
    assert body["message"] == (
        "shard 1 of 2: its engine does not answer within 1 s. The users of that shard can "
        "neither trade nor read; the other shards' users trade on"
    )
    # The other shard's users trade on.
    on_zero = next(s for s in sessions if shard_of(s.user_id, SHARDS) == 0)
    assert (await stack.create_order(on_zero)).status_code == 200
