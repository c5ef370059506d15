"""Pending orders in ``SnapshotStore``: saved window by window (placed, amended, cancelled,
expired, filled), loaded and restored as the live engine holds them, with their history
rows, on PostgreSQL and on SQLite."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.integration.db.test_snapshot_store import BTC, Trading, comparable, new_id
from tradepro.db.bulk import COPY_MIN_ROWS
from tradepro.db.models import OrderHistoryRow, PendingOrderRow
from tradepro.db.snapshot_store import SnapshotStore
from tradepro.domain.commands import AmendOrder, CancelOrder, CreateOrder
from tradepro.domain.events import OrderFilled, OrderPlaced
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import OrderType, Side
from tradepro.engine import Engine, EngineConfig
from tradepro.engine.snapshot import restore_snapshot, take_snapshot

pytestmark = pytest.mark.integration


def place(trading: Trading, user_id: str, side: Side, order_type: OrderType, price: int,
          **kw: Any) -> str:  # fmt: skip
    now_us = trading.tick()
    order_id = new_order_id(now_us // 1000, uuid.uuid4().int)
    command = CreateOrder(order_id, now_us, user_id, BTC, side, kw.pop("qty", 1_000), 10,
                          order_type=order_type, trigger_price=price, **kw)  # fmt: skip
    (event,) = trading.apply(command)
    assert isinstance(event, OrderPlaced), event
    return order_id


def with_pending(snapshot: dict[str, Any]) -> dict[str, Any]:
    return comparable(snapshot) | {
        "pendingOrders": sorted([list(row) for row in snapshot["pendingOrders"]]),
    }


async def check_loads(store: SnapshotStore, live: Engine) -> Engine:
    loaded = await store.load()
    assert loaded is not None
    data, _ = loaded
    assert all(type(row[4]) is str and type(row[5]) is str for row in data["pendingOrders"])
    assert with_pending(data)["pendingOrders"] == with_pending(take_snapshot(live))["pendingOrders"]
    restored = restore_snapshot(data)
    assert with_pending(take_snapshot(restored)) == with_pending(take_snapshot(live))
    streamed = await store.restore(EngineConfig())
    assert streamed is not None
    assert with_pending(take_snapshot(streamed[0])) == with_pending(take_snapshot(live))
    for account_id, account in live.accounts.items():
        assert streamed[0].accounts[account_id].reserved == account.reserved
    return streamed[0]


async def test_pending_orders_are_saved_window_by_window_and_restore(
    db_engine: AsyncEngine,
) -> None:
    store = SnapshotStore(db_engine)
    trading = Trading()
    alice, bob = trading.register(), trading.register()
    trading.price(BTC, 1_000_000, 1_000_010)
    waiting = place(trading, alice, Side.BUY, OrderType.LIMIT, 990_000, take_profit=995_000)
    amended = place(trading, bob, Side.SELL, OrderType.STOP, 980_000)
    canceled = place(trading, alice, Side.SELL, OrderType.LIMIT, 1_020_000)
    expiring = place(trading, bob, Side.BUY, OrderType.STOP, 1_030_000,
                     expires_us=trading.now_us + 10_000)  # fmt: skip
    filled = place(trading, alice, Side.BUY, OrderType.STOP, 1_005_000)
    header, changes, entry_id = trading.window()
    assert len(changes.placed) == 5
    await store.save(header, [changes], entry_id)
    await check_loads(store, trading.engine)

    # Window 2: an amend, a cancel, an expiry, a fill through a gap.
    trading.apply(AmendOrder(new_id(), trading.tick(), bob, amended, frozenset({"qty"}), qty=2_000))
    trading.apply(CancelOrder(new_id(), trading.tick(), alice, canceled))
    trading.now_us += 20_000
    events = trading.price(BTC, 1_006_000, 1_006_010)
    assert [type(event).__name__ for event in events] == ["OrderExpired", "OrderFilled"]
    assert isinstance(events[1], OrderFilled) and events[1].position.order_id == filled
    header, changes, entry_id = trading.window()
    assert {item.order.order_id for item in changes.ended} == {canceled, expiring, filled}
    await store.save(header, [changes], entry_id)
    await store.save(header, [changes], entry_id)  # again: harmless
    restored = await check_loads(store, trading.engine)
    assert set(restored.accounts[alice].orders) == {waiting}
    assert restored.accounts[bob].orders[amended].qty == 2_000
    assert filled in restored.accounts[alice].positions

    async with AsyncSession(db_engine) as session:
        rows = {row.id: row for row in (await session.scalars(select(OrderHistoryRow))).all()}
        resting = (await session.scalars(select(PendingOrderRow.order_id))).all()
    assert sorted(resting) == sorted([waiting, amended])
    assert {order_id: (row.status, row.reason) for order_id, row in rows.items()} == {
        canceled: ("canceled", "user"),
        expiring: ("expired", "expired"),
        filled: ("filled", "filled"),
    }
    assert rows[filled].fill_price == 1_006_010
    assert rows[filled].user_id == alice and rows[filled].order_type == "stop"
    # Ended ids stay in the order id window after a restore: never placed again.
    (again,) = restored.apply(CreateOrder(canceled, trading.tick(), alice, BTC, Side.BUY, 1, 1))
    assert again.status == "duplicate_request"  # type: ignore[union-attr]


async def test_many_pending_orders_save_and_amend_in_bulk(db_engine: AsyncEngine) -> None:
    """More rows than the bulk writer's COPY threshold: the staged upsert path."""
    store = SnapshotStore(db_engine)
    trading = Trading(EngineConfig(max_pending_per_account=COPY_MIN_ROWS + 100))
    alice = trading.register()
    trading.price(BTC, 1_000_000, 1_000_010)
    ids = [place(trading, alice, Side.BUY, OrderType.LIMIT, 900_000 + n, qty=1)
           for n in range(COPY_MIN_ROWS + 50)]  # fmt: skip
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    for order_id in ids:
        trading.apply(AmendOrder(new_id(), trading.tick(), alice, order_id,
                                 frozenset({"qty"}), qty=2))  # fmt: skip
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    restored = await check_loads(store, trading.engine)
    assert {order.qty for order in restored.accounts[alice].orders.values()} == {2}
