"""Idempotency keys in the database: one order id per key, the first answer kept, expired
keys replaced and purged in bounded batches (PostgreSQL and SQLite)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.db.idempotency import KEYS, IdempotencyStore, KeyRecord

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def record(fingerprint: str = "f1", created_at: datetime = NOW) -> KeyRecord:
    return KeyRecord(fingerprint, str(uuid.uuid4()), None, None, created_at)


async def test_a_key_keeps_its_first_order_id_and_answer(db_engine: AsyncEngine) -> None:
    store = IdempotencyStore(db_engine)
    user = str(uuid.uuid4())
    first = record()
    assert await store.claim(user, "k", first, NOW - DAY) == (first, True)
    stored, new = await store.claim(user, "k", record("f2"), NOW - DAY)
    assert not new
    assert (stored.fingerprint, stored.order_id, stored.status) == ("f1", first.order_id, None)
    assert await store.record_answer(user, "k", 200, {"orderId": "a"}) == (200, {"orderId": "a"})
    # A twin that finishes second gets the first answer back.
    assert await store.record_answer(user, "k", 409, {"error": "x"}) == (200, {"orderId": "a"})
    stored, _ = await store.claim(user, "k", record(), NOW - DAY)
    assert (stored.status, stored.response) == (200, {"orderId": "a"})
    # Keys belong to their user.
    other = record()
    assert await store.claim(str(uuid.uuid4()), "k", other, NOW - DAY) == (other, True)


async def test_an_expired_key_is_a_new_key(db_engine: AsyncEngine) -> None:
    store = IdempotencyStore(db_engine)
    user = str(uuid.uuid4())
    old = record(created_at=NOW - DAY - timedelta(seconds=1))
    await store.claim(user, "k", old, old.created_at - DAY)
    await store.record_answer(user, "k", 200, {"orderId": old.order_id})
    fresh = record("f2")
    assert await store.claim(user, "k", fresh, NOW - DAY) == (fresh, True)


async def test_purge_deletes_expired_keys_in_batches(db_engine: AsyncEngine) -> None:
    store = IdempotencyStore(db_engine)
    user = str(uuid.uuid4())
    for n in range(25):
        await store.claim(user, f"old{n}", record(created_at=NOW - 2 * DAY), NOW - 3 * DAY)
    await store.claim(user, "live", record(), NOW - DAY)
    assert await store.purge(NOW - DAY, 10) == 10
    assert await store.purge(NOW - DAY, 10) == 10
    assert await store.purge(NOW - DAY, 10) == 5
    assert await store.purge(NOW - DAY, 10) == 0
    async with db_engine.connect() as connection:
        keys = (await connection.execute(select(KEYS.c.key))).scalars().all()
        assert keys == ["live"]
        assert (await connection.execute(select(func.count()).select_from(KEYS))).scalar() == 1
