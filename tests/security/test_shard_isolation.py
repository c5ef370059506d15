"""Attacks on user sharding (``ENGINE_SHARDS=2``): another user's order on another shard,
a request that reaches the wrong shard's stream, and a namespace that would move the keys
off their shard's slot."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import API, Mailbox, Session, Stack
from tests.support.api_fixtures import running_stack
from tradepro.bus.names import shard_of
from tradepro.bus.requests import Requester
from tradepro.config import Settings, SettingsError, load_settings
from tradepro.db.session import open_database
from tradepro.services.engine.main import stored_beyond
from tradepro.services.engine.worker import ShardMismatchError

SHARDS = 2


@pytest.fixture
async def sharded(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: tuple[Mailbox, int]
) -> AsyncIterator[Stack]:
    async with running_stack(request, "redis-postgres", tmp_path, smtp) as running:
        yield running


async def one_user_per_shard(stack: Stack) -> list[Session]:
    found: dict[int, Session] = {}
    for _ in range(40):
        session = await stack.sign_in()
        found.setdefault(shard_of(session.user_id, SHARDS), session)
        if len(found) == SHARDS:
            return [found[shard] for shard in range(SHARDS)]
    raise AssertionError("40 users on one shard")


@pytest.mark.stack_settings(engine_shards=SHARDS)
async def test_a_user_cannot_touch_an_order_held_by_another_shard(sharded: Stack) -> None:
    stack = sharded
    mallory, victim = await one_user_per_shard(stack)
    await stack.publish_price("BTC_USDC", "50000.00", "50010.00")
    created = await stack.create_order(victim)
    assert created.status_code == 200, created.text
    order_id = created.json()["orderId"]

    closing = await stack.close_order(mallory, order_id)  # goes to mallory's own shard
    assert closing.status_code == 404, closing.text
    assert closing.json()["error"] == "order_not_found"
    body = {"orderId": order_id, "takeProfit": "60000.00"}
    modified = await stack.client.post(f"{API}/trade/modify-order", json=body, headers=mallory.auth)
    assert modified.status_code in (400, 404), modified.text
    assert [o["orderId"] for o in await stack.open_orders(victim)] == [order_id]


@pytest.mark.stack_settings(engine_shards=SHARDS)
async def test_an_engine_refuses_a_user_of_another_shard(sharded: Stack) -> None:
    """A request on the wrong shard's stream (a process with another ENGINE_SHARDS, or an
    entry written there by hand) must not open a second account for the user there."""
    stack = sharded
    wrong = stack._engine_buses[1]
    requester = Requester(wrong, timeout_s=10)
    await requester.start()
    try:
        user_id = next(u for u in (str(uuid.uuid4()) for _ in range(100)) if shard_of(u, 2) == 0)
        reply = await requester.send_request_and_wait("register-user", {"userId": user_id})
        assert reply["status"] == "invalid_request"
        assert "belongs to shard 0 of 2" in reply["message"]
        assert user_id not in stack.workers[1].engine.accounts
        assert user_id not in stack.workers[0].engine.accounts
    finally:
        await requester.stop()


def test_a_namespace_with_braces_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        Settings(tradepro_bus_namespace="{s1}")
    monkeypatch.setenv("TRADEPRO_BUS_NAMESPACE", "app{x}:")
    with pytest.raises(SettingsError, match="tradepro_bus_namespace"):
        load_settings()


@pytest.mark.stack_settings(engine_shards=SHARDS)
async def test_state_saved_with_another_shard_count_is_refused(sharded: Stack) -> None:
    """Changing ENGINE_SHARDS would leave users with two engines or none: each engine
    refuses, saying why, instead of serving a wrong set of users."""
    stack = sharded
    movers: set[int] = set()  # shards holding a user that hashes elsewhere with 3 shards
    for _ in range(60):
        user_id = (await stack.sign_in()).user_id
        if shard_of(user_id, 3) != shard_of(user_id, SHARDS):
            movers.add(shard_of(user_id, SHARDS))
        if movers == {0, 1}:
            break
    assert movers == {0, 1}
    await stack.stop_engine()  # final snapshots: users stored with their shard
    database = open_database(stack.settings.effective_database_url)
    try:
        assert await stored_beyond(database, SHARDS) is None
        assert await stored_beyond(database, 1) == 1  # ENGINE_SHARDS=1 would miss shard 1
    finally:
        await database.dispose()

    stack.settings = stack.settings.model_copy(update={"engine_shards": 3})
    await stack.start_engine()
    old_shards = stack._engine_tasks[:2]  # shard 2 is new and empty: it runs
    await asyncio.wait(old_shards, timeout=60)
    for task in old_shards:  # each held users that now hash elsewhere
        assert task.done()
        assert isinstance(task.exception(), ShardMismatchError), task.exception()
        assert "saved with another ENGINE_SHARDS" in str(task.exception())
    stack._engine_tasks = stack._engine_tasks[2:]  # stop_engine ends the one running
