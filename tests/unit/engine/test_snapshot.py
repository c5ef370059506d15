"""Snapshots restore the same engine, refuse a foreign configuration, and changes drain."""

from __future__ import annotations

import orjson
import pytest

from tradepro.domain.commands import CloseOrder, CreateOrder, RegisterUser, UpdatePrice
from tradepro.domain.instruments import Instrument
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import OrderType, Side
from tradepro.engine import Engine, EngineConfig
from tradepro.engine.snapshot import Restorer, SnapshotError, restore_snapshot, take_snapshot

BTC = "BTC_USDC"
O1, O2, O3 = (new_order_id(0, n) for n in (1, 2, 3))
"""Order ids made at the epoch, like this test's entry times."""


def busy_engine() -> Engine:
    engine = Engine()
    engine.apply(RegisterUser("r1", 1, "alice"))
    engine.apply(RegisterUser("r2", 1, "bob"))
    engine.apply(UpdatePrice("p1", 2, BTC, 1_000_000, 1_000_005))
    engine.apply(CreateOrder(O1, 3, "alice", BTC, Side.BUY, 1_000, 10, take_profit=1_010_000))
    engine.apply(CreateOrder(O2, 4, "bob", BTC, Side.SELL, 2_000, 50, stop_loss=1_005_000))
    engine.apply(CreateOrder(O3, 5, "alice", BTC, Side.SELL, 500, 2))
    engine.apply(CloseOrder("c1", 6, "alice", O3))
    return engine


def test_restore_reproduces_state_and_future_behaviour() -> None:
    engine = busy_engine()
    data = orjson.loads(orjson.dumps(take_snapshot(engine)))
    restored = restore_snapshot(data)
    assert take_snapshot(restored) == take_snapshot(engine)
    assert restored.accounts["bob"].locked == engine.accounts["bob"].locked > 0
    tick = UpdatePrice("p2", 7, BTC, 1_010_000, 1_010_005)
    assert restored.apply(tick) == engine.apply(tick)  # TP of o1 and SL of o2 fire in both
    assert take_snapshot(restored) == take_snapshot(engine)


def test_restore_refuses_a_different_instrument_table() -> None:
    data = take_snapshot(busy_engine())
    other = EngineConfig(instruments={BTC: Instrument(BTC, price_decimals=2, qty_decimals=5)})
    with pytest.raises(SnapshotError, match="instrument"):
        restore_snapshot(data, other)
    with pytest.raises(SnapshotError, match="version"):
        restore_snapshot(data | {"version": 99})


def test_changes_drain_in_a_stable_order_and_reset() -> None:
    engine = busy_engine()
    changes = engine.drain_changes()
    assert changes.balances == [
        ("alice", engine.accounts["alice"].balance),
        ("bob", engine.accounts["bob"].balance),
    ]
    assert [p.order_id for p in changes.opened] == [O1, O2]  # o3 opened and closed
    assert [t.position.order_id for t in changes.closed] == [O3]
    assert not engine.drain_changes()
    engine.apply(UpdatePrice("p2", 7, BTC, 1_010_000, 1_010_005))
    after = engine.drain_changes()
    assert [t.position.order_id for t in after.closed] == [O1, O2]
    assert after.opened == []


def test_a_restored_account_indexes_its_positions_on_its_first_command() -> None:
    """``restore_snapshot`` hands each account its positions as seqs: no account's dict is
    built by the restore, a command builds only its own account's, and every command
    answers as in the engine that was saved (close by the owner or by someone else, a
    repeated id, a read, a trigger)."""
    engine = busy_engine()
    restored = restore_snapshot(orjson.loads(orjson.dumps(take_snapshot(engine))))
    assert not restored.accounts["alice"].indexed and not restored.accounts["bob"].indexed
    assert restored.accounts["alice"].locked == engine.accounts["alice"].locked > 0
    commands = [
        CloseOrder("c2", 7, "bob", O1),  # alice's order: not found for bob
        CreateOrder(O2, 8, "bob", BTC, Side.BUY, 1_000, 10),  # bob's own, still open
    ]
    for command in commands:
        assert restored.apply(command) == engine.apply(command)
    assert restored.accounts["bob"].indexed and not restored.accounts["alice"].indexed
    tick = UpdatePrice("p2", 9, BTC, 1_010_000, 1_010_005)  # closes o1 (alice) and o2 (bob)
    assert restored.apply(tick) == engine.apply(tick)
    assert restored.accounts["alice"].indexed
    assert take_snapshot(restored) == take_snapshot(engine)
    for user_id, account in engine.accounts.items():
        assert list(restored.accounts[user_id].positions.items()) == list(account.positions.items())


def test_a_grouped_restore_must_account_for_every_position() -> None:
    data = take_snapshot(busy_engine())
    restorer = Restorer(data, grouped=True)
    restorer.add_accounts(data["accounts"])
    restorer.add_positions(data["positions"])
    restorer.add_account_positions([("alice", 10_000, [data["positions"][0][0]])])  # not bob's
    with pytest.raises(SnapshotError, match="1 positions grouped by account, 2 open"):
        restorer.finish()
    with pytest.raises(SnapshotError, match="unknown account"):
        restorer.add_account_positions([("mallory", 0, [1])])
    with pytest.raises(SnapshotError, match="grouped restore"):
        Restorer(data).add_account_positions([("alice", 0, [1])])


def pending_engine() -> Engine:
    engine = busy_engine()
    late = [new_order_id(0, n) for n in (10, 11, 12)]
    engine.apply(CreateOrder(late[0], 8, "alice", BTC, Side.BUY, 1_000, 10,
                             order_type=OrderType.LIMIT, trigger_price=990_000))  # fmt: skip
    engine.apply(CreateOrder(late[1], 9, "bob", BTC, Side.SELL, 500, 5, stop_loss=1_100_000,
                             order_type=OrderType.LIMIT, trigger_price=1_050_000,
                             expires_us=1_000))  # fmt: skip
    engine.apply(CreateOrder(late[2], 10, "bob", BTC, Side.SELL, 500, 5,
                             order_type=OrderType.STOP, trigger_price=980_000))  # fmt: skip
    return engine


def test_restore_brings_back_pending_orders_their_books_reservations_and_expiries() -> None:
    engine = pending_engine()
    data = orjson.loads(orjson.dumps(take_snapshot(engine)))
    assert len(data["pendingOrders"]) == 3 and data["version"] >= 3
    restored = restore_snapshot(data)
    assert take_snapshot(restored) == take_snapshot(engine)
    for user in ("alice", "bob"):
        assert restored.accounts[user].reserved == engine.accounts[user].reserved > 0
        assert restored.accounts[user].orders == engine.accounts[user].orders
    assert restored.ledger_total() == restored.deposits_cents
    assert restored.expiries.due_us == engine.expiries.due_us == 1_000
    later = [
        UpdatePrice("p3", 11, BTC, 989_990, 990_000),  # fills alice's buy limit
        UpdatePrice("p4", 1_000, BTC, 979_000, 979_010),  # bob's expires, then his stop fills
    ]
    assert [restored.apply(tick) for tick in later] == [engine.apply(tick) for tick in later]
    assert take_snapshot(restored) == take_snapshot(engine)
    assert restored.pending_by_seq == {}


def test_a_version_2_snapshot_restores_with_no_pending_orders() -> None:
    engine = busy_engine()
    data = orjson.loads(orjson.dumps(take_snapshot(engine)))
    del data["pendingOrders"]
    data["version"] = 2
    restored = restore_snapshot(data)
    assert restored.pending_by_seq == {}
    assert take_snapshot(restored) == take_snapshot(engine)
