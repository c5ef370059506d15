"""``SnapshotStore`` saves a live engine's changes and loads back the very same engine.

Each test drives a real ``Engine`` with typed commands, saves its drained ``ChangeSet``s
with ``snapshot_header`` (as the engine worker does), and checks what ``load`` rebuilds
against ``take_snapshot`` of the live engine, on PostgreSQL and on SQLite.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradepro.db import packed_positions, snapshot_store
from tradepro.db.bulk import CHUNK_ROWS, COPY_MIN_ROWS
from tradepro.db.migrate import alembic_config, upgrade
from tradepro.db.models import ExistingTrade, OpenPosition, User
from tradepro.db.session import open_database
from tradepro.db.snapshot_store import ORDER_IDS, SnapshotStore
from tradepro.domain.commands import (
    CloseOrder,
    Command,
    CreateOrder,
    RegisterUser,
    ReportAccount,
    UpdatePrice,
)
from tradepro.domain.events import (
    ClosedTrade,
    CommandRejected,
    Event,
    PositionClosed,
    PositionOpened,
)
from tradepro.domain.order_ids import new_order_id, order_id_time_ms
from tradepro.domain.orders import CloseReason, RejectReason, Side
from tradepro.engine import Engine, EngineConfig
from tradepro.engine.changes import ChangeSet
from tradepro.engine.snapshot import restore_snapshot, snapshot_header, take_snapshot

pytestmark = pytest.mark.integration

BTC = "BTC_USDC"
ETH = "ETH_USDC"
START_US = 1_750_000_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Trading:
    """A live engine driven by typed commands, with a clock and what it closed."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.engine = Engine(config)
        self.now_us = START_US
        self.closed: list[ClosedTrade] = []
        self.last_entry_id = ""

    def apply(self, command: Command) -> list[Event]:
        events = self.engine.apply(command)
        self.closed += [event.trade for event in events if isinstance(event, PositionClosed)]
        return events

    def tick(self) -> int:
        self.now_us += 1_000
        return self.now_us

    def register(self) -> str:
        user_id = new_id()
        self.apply(RegisterUser(new_id(), self.tick(), user_id))
        return user_id

    def price(self, asset: str, bid: int, ask: int) -> list[Event]:
        return self.apply(UpdatePrice(new_id(), self.tick(), asset, bid, ask))

    def open(self, user_id: str, asset: str, side: Side, qty: int, leverage: int, **kw: Any) -> str:
        now_us = self.tick()
        order_id = new_order_id(now_us // 1000, uuid.uuid4().int)
        command = CreateOrder(order_id, now_us, user_id, asset, side, qty, leverage, **kw)
        (event,) = self.apply(command)
        assert isinstance(event, PositionOpened), event
        return order_id

    def close(self, user_id: str, order_id: str) -> None:
        (event,) = self.apply(CloseOrder(new_id(), self.tick(), user_id, order_id))
        assert isinstance(event, PositionClosed), event

    def window(self) -> tuple[dict[str, Any], ChangeSet, str]:
        """Drain like the engine worker: changes, the header at that instant, the entry id."""
        changes = self.engine.drain_changes()
        self.last_entry_id = f"{self.now_us // 1000}-0"
        return snapshot_header(self.engine), changes, self.last_entry_id


def comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    """``take_snapshot`` output in JSON form, accounts and order ids sorted: they come back
    from the database in its order, not in the engine's (which nothing depends on)."""
    return snapshot | {
        "accounts": sorted(map(tuple, snapshot["accounts"])),
        "positions": [list(row) for row in snapshot["positions"]],
        "orderIds": sorted(snapshot["orderIds"]),
    }


def assert_loads_live_state(loaded: tuple[dict[str, Any], str] | None, live: Engine) -> Engine:
    assert loaded is not None
    data, _ = loaded
    expected = take_snapshot(live)
    # Positions exactly, in JSON form (take_snapshot holds Position tuples with Side members).
    assert data["positions"] == [list(row) for row in expected["positions"]]
    assert all(type(row[4]) is str for row in data["positions"])
    restored = restore_snapshot(data)
    assert comparable(take_snapshot(restored)) == comparable(expected)
    assert restored.ledger_total() == restored.deposits_cents
    return restored


async def run_windows(store: SnapshotStore) -> Trading:
    """Four windows of trading: saved one by one, then the last two in one save."""
    trading = Trading()
    alice, bob, carol = trading.register(), trading.register(), trading.register()
    trading.price(BTC, 1_000_000, 1_000_005)  # $100,000.0 / $100,000.5
    trading.price(ETH, 300_000, 300_010)  # $3,000.00 / $3,000.10
    trading.open(alice, BTC, Side.BUY, 1_000, 10, take_profit=1_050_000)
    trading.open(bob, BTC, Side.SELL, 2_000, 20, stop_loss=1_002_000)
    trading.open(carol, ETH, Side.BUY, 5_000, 5, price=300_010, slippage_bps=25)
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    assert_loads_live_state(await store.load(), trading.engine)

    # Window 2: a position opened and closed within the window; a stop-loss fires.
    quick = trading.open(alice, ETH, Side.SELL, 1_000, 2)
    trading.close(alice, quick)
    closed = trading.price(BTC, 1_002_000, 1_002_010)
    assert [event.trade.reason for event in closed if isinstance(event, PositionClosed)] == [
        CloseReason.STOP_LOSS
    ]
    header, changes, entry_id = trading.window()
    assert changes.opened == []
    await store.save(header, [changes], entry_id)
    assert_loads_live_state(await store.load(), trading.engine)

    # Windows 3 and 4 saved together (the first save failed, say): a new user is
    # margin-called, alice closes her own position.
    dave = trading.register()
    trading.open(dave, BTC, Side.BUY, 1_000, 100)
    trading.open(carol, BTC, Side.BUY, 500, 2, stop_loss=900_000)
    pending = [trading.window()[1]]
    closed = trading.price(BTC, 990_000, 990_010)
    assert [event.trade.reason for event in closed if isinstance(event, PositionClosed)] == [
        CloseReason.MARGIN_CALL
    ]
    alices = [p.order_id for p in trading.engine.accounts[alice].positions.values()]
    trading.close(alice, alices[0])
    header, changes, entry_id = trading.window()
    await store.save(header, [*pending, changes], entry_id)
    return trading


async def test_nothing_saved_loads_none(db_engine: AsyncEngine) -> None:
    assert await SnapshotStore(db_engine).load() is None


async def test_saved_windows_load_the_live_engine(db_engine: AsyncEngine) -> None:
    store = SnapshotStore(db_engine)
    trading = await run_windows(store)
    loaded = await store.load()
    restored = assert_loads_live_state(loaded, trading.engine)
    assert loaded is not None
    assert loaded[1] == trading.last_entry_id

    # The restored engine goes on exactly like the live one.
    tick = UpdatePrice(new_id(), trading.tick(), ETH, 200_000, 200_010)
    events = trading.engine.apply(tick)
    assert events  # carol's ETH long is margin-called at $2,000
    assert restored.apply(tick) == events
    assert comparable(take_snapshot(restored)) == comparable(take_snapshot(trading.engine))


async def test_closed_trades_are_stored_with_their_values(db_engine: AsyncEngine) -> None:
    trading = await run_windows(SnapshotStore(db_engine))
    async with AsyncSession(db_engine) as session:
        rows = {row.id: row for row in (await session.scalars(select(ExistingTrade))).all()}
    assert len(trading.closed) == 4
    assert set(rows) == {trade.position.order_id for trade in trading.closed}
    for trade in trading.closed:
        position, row = trade.position, rows[trade.position.order_id]
        assert (row.user_id, row.asset, row.side) == (
            position.user_id,
            position.asset,
            position.side.value,
        )
        assert (row.quantity, row.leverage, row.margin) == (
            position.qty,
            position.leverage,
            position.margin,
        )
        assert (row.open_price, row.close_price, row.pnl) == (
            position.open_price,
            trade.close_price,
            trade.pnl,
        )
        assert (row.take_profit, row.stop_loss, row.liquidation_price, row.slippage) == (
            position.take_profit,
            position.stop_loss,
            position.liquidation_price,
            position.slippage_bps,
        )
        assert (row.reason, row.liquidated) == (trade.reason.value, trade.liquidated)
        assert row.created_at == EPOCH + timedelta(microseconds=position.opened_us)
        assert row.closed_at == EPOCH + timedelta(microseconds=trade.closed_us)
        assert row.closed_at.tzinfo == UTC
    reasons = sorted((row.reason, row.liquidated) for row in rows.values())
    assert reasons == [
        ("margin_call", True),
        ("stop_loss", False),
        ("user", False),
        ("user", False),
    ]
    assert any(row.pnl < 0 for row in rows.values())


async def test_saving_the_same_changes_again_is_harmless(db_engine: AsyncEngine) -> None:
    store = SnapshotStore(db_engine)
    trading = Trading()
    alice = trading.register()
    trading.price(BTC, 1_000_000, 1_000_005)
    first = trading.open(alice, BTC, Side.BUY, 1_000, 10)
    trading.open(alice, BTC, Side.SELL, 1_000, 10)
    trading.close(alice, first)
    header, changes, entry_id = trading.window()
    await store.record_trades(changes.closed)  # the fast sink got there first
    await store.record_trades(changes.closed)
    await store.save(header, [changes], entry_id)
    await store.save(header, [changes], entry_id)  # retried after an unknown outcome
    await store.record_trades(changes.closed)
    assert_loads_live_state(await store.load(), trading.engine)
    async with AsyncSession(db_engine) as session:
        assert await session.scalar(select(func.count()).select_from(ExistingTrade)) == 1
        assert await session.scalar(select(func.count()).select_from(OpenPosition)) == 1


async def test_trades_recorded_before_their_owner_is_saved(db_engine: AsyncEngine) -> None:
    store = SnapshotStore(db_engine)
    trading = Trading()
    trading.price(BTC, 1_000_000, 1_000_005)
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    erin = trading.register()
    trading.close(erin, trading.open(erin, BTC, Side.BUY, 1_000, 10))
    await store.record_trades(trading.closed)  # erin has no saved account yet
    loaded = await store.load()
    assert loaded is not None
    assert loaded[0]["accounts"] == []  # the placeholder row is no engine account
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    assert_loads_live_state(await store.load(), trading.engine)


async def test_the_api_columns_survive_balance_updates(db_engine: AsyncEngine) -> None:
    store = SnapshotStore(db_engine)
    trading = Trading()
    frank = trading.register()
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    signed_in = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    async with AsyncSession(db_engine) as session:  # the API, another writer
        await session.execute(
            update(User)
            .where(User.id == frank)
            .values(email="frank@example.com", last_logged_in=signed_in)
        )
        await session.commit()
    trading.price(BTC, 1_000_000, 1_000_005)
    trading.open(frank, BTC, Side.BUY, 1_000, 10)
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    async with AsyncSession(db_engine) as session:
        user = (await session.scalars(select(User).where(User.id == frank))).one()
    assert (user.email, user.last_logged_in) == ("frank@example.com", signed_in)
    assert user.balance == trading.engine.accounts[frank].balance < 500_000


async def test_users_the_engine_never_registered_are_not_accounts(
    db_engine: AsyncEngine,
) -> None:
    store = SnapshotStore(db_engine)
    trading = Trading()
    grace = trading.register()
    async with AsyncSession(db_engine) as session:  # signed up, not yet seen by the engine
        session.add(User(id=new_id(), email="henry@example.com"))
        await session.commit()
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    loaded = await store.load()
    assert loaded is not None
    assert loaded[0]["accounts"] == [[grace, 500_000, 0]]


async def test_shards_keep_to_their_own_state(db_engine: AsyncEngine) -> None:
    shards = [Trading(), Trading()]
    for number, trading in enumerate(shards):
        user_id = trading.register()
        trading.price(BTC, 1_000_000 + number, 1_000_005 + number)
        trading.open(user_id, BTC, Side.BUY, 1_000, 10)
        header, changes, entry_id = trading.window()
        await SnapshotStore(db_engine, shard=number).save(header, [changes], entry_id)
    for number, trading in enumerate(shards):
        assert_loads_live_state(await SnapshotStore(db_engine, shard=number).load(), trading.engine)


@pytest.mark.parametrize("positions", [3 * CHUNK_ROWS + 7, 2 * COPY_MIN_ROWS + 7])
async def test_a_save_that_fails_at_its_end_writes_nothing(
    db_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, positions: int
) -> None:
    """All or nothing, also when the rows span many bulk chunks (a crash mid-save must
    leave the previous snapshot whole, or the replay after it would open orders twice)."""
    store = SnapshotStore(db_engine)
    trading = Trading()
    users = [trading.register() for _ in range(3)]
    trading.price(BTC, 1_000_000, 1_000_005)
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    before = await store.load()
    for n in range(positions):
        trading.open(users[n % 3], BTC, Side.BUY, 10, 1)
    header, changes, entry_id = trading.window()

    def failing_state(*args: object) -> Any:
        return text("SELECT no_such_column FROM engine_state")

    monkeypatch.setattr(store, "_upsert_state", failing_state)
    with pytest.raises(DBAPIError):
        await store.save(header, [changes], entry_id)

    assert await store.load() == before
    async with AsyncSession(db_engine) as session:
        assert await session.scalar(select(func.count()).select_from(OpenPosition)) == 0


async def test_large_saves_load_back_the_live_engine(db_engine: AsyncEngine) -> None:
    """Enough accounts, openings and closings per save to take the bulk (COPY) path."""
    store = SnapshotStore(db_engine)
    trading = Trading()
    users = [trading.register() for _ in range(COPY_MIN_ROWS + 50)]
    trading.price(BTC, 1_000_000, 1_000_005)
    opened = [trading.open(users[n % len(users)], BTC, Side.BUY, 10, 2) for n in range(1_200)]
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    assert_loads_live_state(await store.load(), trading.engine)

    for n, order_id in enumerate(opened[:700]):
        trading.close(users[n % len(users)], order_id)
    trading.open(users[0], BTC, Side.SELL, 10, 3)
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    assert_loads_live_state(await store.load(), trading.engine)
    async with AsyncSession(db_engine) as session:
        assert await session.scalar(select(func.count()).select_from(OpenPosition)) == 501
        assert await session.scalar(select(func.count()).select_from(ExistingTrade)) == 700


async def test_the_order_id_window_is_saved_and_expires(db_engine: AsyncEngine) -> None:
    """Closed positions' ids come back in the window (still refused after a restore), and
    ids older than the horizon leave the table with the save that moves it."""
    window_us = 60_000_000
    config = EngineConfig(order_id_window_us=window_us)
    store = SnapshotStore(db_engine)
    trading = Trading(config)
    alice = trading.register()
    trading.price(BTC, 1_000_000, 1_000_005)
    closed_id = trading.open(alice, BTC, Side.BUY, 1_000, 10)
    trading.close(alice, closed_id)
    open_id = trading.open(alice, BTC, Side.BUY, 1_000, 10)
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    loaded = await store.load()
    assert loaded is not None
    assert sorted(loaded[0]["orderIds"]) == sorted([closed_id, open_id])
    restored = restore_snapshot(loaded[0], config)
    again = CreateOrder(closed_id, trading.tick(), alice, BTC, Side.BUY, 1_000, 10)
    [refused] = restored.apply(again)
    assert isinstance(refused, CommandRejected)
    assert refused.reason is RejectReason.DUPLICATE_REQUEST

    trading.now_us += window_us + 120_000_000  # past the window and its last minute
    trading.price(BTC, 1_000_000, 1_000_005)
    fresh_id = trading.open(alice, BTC, Side.SELL, 1_000, 10)
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    async with db_engine.connect() as connection:
        kept = (await connection.execute(select(ORDER_IDS.c.order_id))).scalars().all()
    assert kept == []  # fresh_id is open: its row in open_positions holds it
    loaded = await store.load()
    assert loaded is not None
    assert loaded[0]["orderIds"] == [fresh_id]
    restored = restore_snapshot(loaded[0], config)
    again = CreateOrder(closed_id, trading.tick(), alice, BTC, Side.BUY, 1_000, 10)
    [refused] = restored.apply(again)
    assert isinstance(refused, CommandRejected)
    assert refused.reason is RejectReason.INVALID_ORDER  # forgotten, yet refused


async def test_restore_streams_the_live_engine_in_chunks(
    db_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``restore`` (what the engine service runs) reads the rows in chunks straight into
    the engine: the same engine as the live one, going on the same way, with each open
    position sharing its owner's, asset's and order id's strings with the engine."""
    monkeypatch.setattr(snapshot_store, "READ_CHUNK_ROWS", 7)
    monkeypatch.setattr(packed_positions, "CHUNK_ROWS", 7)
    store = SnapshotStore(db_engine)
    trading = await run_windows(store)
    users = [trading.register() for _ in range(5)]
    opened = [trading.open(users[n % 5], BTC, Side.BUY, 10, 1 + n % 7) for n in range(40)]
    for n, order_id in enumerate(opened[::3]):
        trading.close(users[3 * n % 5], order_id)
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)

    restored = await store.restore(EngineConfig())
    assert restored is not None
    engine, restored_entry_id = restored
    assert restored_entry_id == entry_id
    assert comparable(take_snapshot(engine)) == comparable(take_snapshot(trading.engine))
    owners = {user_id: user_id for user_id in engine.accounts}
    for position in engine.open_by_seq.values():
        assert position.user_id is owners[position.user_id]
        assert position.asset is next(asset for asset in engine.books if asset == position.asset)
        window = engine.order_ids.buckets[position.order_id[:8]]
        assert window[position.order_id] is position.order_id
    postgres = db_engine.dialect.name == "postgresql"
    for user_id, account in engine.accounts.items():
        live = trading.engine.accounts[user_id]
        # On PostgreSQL each account's dict waits for its first use; its margin is there.
        assert account.indexed is not (postgres and bool(live.positions))
        assert account.locked == live.locked
        assert list(account.positions.items()) == list(live.positions.items())
        assert account.indexed
    tick = UpdatePrice(new_id(), trading.tick(), BTC, 900_000, 900_010)
    events = trading.engine.apply(tick)
    assert events  # the margin calls of the 40 positions left open
    assert engine.apply(tick) == events


async def test_a_restored_account_is_indexed_by_its_first_command(db_engine: AsyncEngine) -> None:
    """Closing, duplicate ids and reads behave as in the live engine whether or not the
    account's positions were indexed yet; a command touches its own account only."""
    store = SnapshotStore(db_engine)
    trading = await run_windows(store)
    alice, bob = trading.register(), trading.register()
    mine = [trading.open(alice, BTC, Side.BUY, 10, 2) for _ in range(3)]
    theirs = trading.open(bob, BTC, Side.SELL, 10, 2)
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    restored = await store.restore(EngineConfig())
    assert restored is not None
    engine = restored[0]

    trading.now_us += 1
    commands: list[Command] = [
        CreateOrder(theirs, trading.now_us, alice, BTC, Side.BUY, 10, 2),  # bob's id
        CloseOrder(new_id(), trading.now_us, alice, theirs),  # not hers
        ReportAccount(new_id(), trading.now_us, alice),
        CloseOrder(new_id(), trading.now_us, alice, mine[1]),
        CreateOrder(mine[0], trading.now_us, alice, BTC, Side.BUY, 10, 2),  # open already
    ]
    for step in commands:
        assert engine.apply(step) == trading.engine.apply(step)
        assert not engine.accounts[bob].indexed or db_engine.dialect.name != "postgresql"
    assert comparable(take_snapshot(engine)) == comparable(take_snapshot(trading.engine))
    assert list(engine.accounts[bob].positions) == [theirs]


async def test_positions_the_engine_cannot_take_fail_the_restore(postgres_url: str) -> None:
    """An open position whose owner is not one of the shard's accounts, or of an asset the
    engine does not trade, makes the restore fail (and the service retry), never an
    engine that silently lacks it (PostgreSQL's packed read)."""
    await upgrade(postgres_url)
    db_engine = open_database(postgres_url)
    try:
        await _restore_refuses_what_it_cannot_take(db_engine)
    finally:
        await db_engine.dispose()


async def _restore_refuses_what_it_cannot_take(db_engine: AsyncEngine) -> None:
    store = SnapshotStore(db_engine)
    trading = await run_windows(store)
    alice = trading.register()
    order_id = trading.open(alice, BTC, Side.BUY, 10, 2)
    header, changes, entry_id = trading.window()
    await store.save(header, [changes], entry_id)
    async with db_engine.begin() as connection:
        await connection.execute(update(User).where(User.id == alice).values(engine_shard=None))
    with pytest.raises(packed_positions.PackedPositionsError, match="owner"):
        await store.restore(EngineConfig())
    async with db_engine.begin() as connection:
        await connection.execute(update(User).where(User.id == alice).values(engine_shard=0))
        await connection.execute(
            update(OpenPosition).where(OpenPosition.order_id == order_id).values(asset="DOGE")
        )
    with pytest.raises(packed_positions.PackedPositionsError, match="asset"):
        await store.restore(EngineConfig())


async def test_migration_0008_moves_open_ids_out_of_the_order_id_table(database_url: str) -> None:
    """A database saved by an engine before 0008 (every opened id in ``engine_order_ids``)
    upgrades to the ids of closed positions only and restores the same window; the
    downgrade writes the open positions' ids back, with their times."""
    await upgrade(database_url)
    database = open_database(database_url)
    try:
        store = SnapshotStore(database)
        trading = await run_windows(store)  # saved by today's store (it needs today's schema)
        async with database.begin() as connection:
            await connection.run_sync(downgrade_to, "0007")
        open_ids = [p.order_id for p in trading.engine.open_by_seq.values()]
        # What the engines before 0008 wrote: every opened id in engine_order_ids.
        assert set(open_ids) <= set(await saved_order_ids(database))
        await upgrade(database_url)
        assert not set(open_ids) & set(await saved_order_ids(database))
        restored = await store.restore(EngineConfig())
        assert restored is not None
        assert sorted(restored[0].order_ids.ids()) == sorted(trading.engine.order_ids.ids())

        async with database.begin() as connection:
            await connection.run_sync(downgrade_to, "0007")
        assert set(open_ids) <= set(await saved_order_ids(database))
        async with database.connect() as connection:
            made = dict(
                (await connection.execute(select(ORDER_IDS.c.order_id, ORDER_IDS.c.made_ms))).all()
            )
        assert all(made[order_id] == order_id_time_ms(order_id) for order_id in open_ids)
    finally:
        await database.dispose()


async def saved_order_ids(database: AsyncEngine) -> list[str]:
    async with database.connect() as connection:
        return list((await connection.scalars(select(ORDER_IDS.c.order_id))).all())


def downgrade_to(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


@pytest.mark.parametrize("count", [34, 35])  # the last chunk partial, or cut empty
@pytest.mark.parametrize("spans", [True, False], ids=["spans", "cuts"])
async def test_chunks_on_two_connections_are_those_of_one_in_the_exported_snapshot(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, count: int, spans: bool
) -> None:
    """The packed read cuts chunks by seq (spans, or cut at every 5th position) and packs
    them on several connections at once:
    it hands over exactly the columns one connection reads, in seq order, and only what
    the exported snapshot holds, although positions were opened and closed (and
    committed) after the export and before the other connections began."""
    monkeypatch.setattr(packed_positions, "CHUNK_ROWS", 5)
    if not spans:  # chunks cut one after the other, as when seqs are spread far apart
        monkeypatch.setattr(packed_positions, "SPANS_AT_MOST", 0)
    await upgrade(postgres_url)
    database = open_database(postgres_url)
    try:
        store = SnapshotStore(database)
        trading = await run_windows(store)
        users = [trading.register() for _ in range(4)]
        while len(trading.engine.open_by_seq) < count:
            n = len(trading.engine.open_by_seq)
            trading.open(users[n % 4], ETH if n % 3 else BTC, Side(("buy", "sell")[n % 2]),
                         10 + n, 1 + n % 5, take_profit=None if n % 2 else 2_000_000)  # fmt: skip
        header, changes, entry_id = trading.window()
        await store.save(header, [changes], entry_id)
        expected = [list(map(_json_field, column)) for column in zip(*(
            trading.engine.open_by_seq.values()), strict=True)]  # fmt: skip
        restorer_books = [f"{a} {s.value}" for a in trading.engine.books for s in Side]
        account_ids = [row[0] for row in await _accounts(store)]

        async with (
            database.connect() as first,
            database.connect() as second,
            database.connect() as third,
        ):
            for connection in (first, second, third):
                await connection.execution_options(isolation_level="REPEATABLE READ")
            async with first.begin(), second.begin(), third.begin():
                snapshot_id = (await first.exec_driver_sql("SELECT pg_export_snapshot()")).scalar()
                driver = (await first.get_raw_connection()).driver_connection
                # After the export: one more position opened, one closed, both committed
                # before the other two connections begin.
                trading.open(users[0], BTC, Side.BUY, 7, 2)
                first_open = next(iter(trading.engine.open_by_seq.values()))
                trading.close(first_open.user_id, first_open.order_id)
                header, changes, entry_id = trading.window()
                await store.save(header, [changes], entry_id)
                importers = []
                for connection in (second, third):
                    await connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
                    importers.append((await connection.get_raw_connection()).driver_connection)

                async def read(drivers: list[Any]) -> list[list[Any]]:
                    columns: list[list[Any]] = [[] for _ in expected]
                    chunks = packed_positions.read_chunks(drivers, 0, restorer_books, account_ids)
                    async for chunk in chunks:
                        assert 0 < len(chunk[0]) <= 5
                        for column, part in zip(columns, chunk, strict=True):
                            column.extend(part)
                    return columns

                assert await read([driver, *importers]) == expected
                assert await read([importers[0]]) == expected
                assert await read([driver, importers[1]]) == expected
        restored = await store.restore(EngineConfig())
        assert restored is not None
        assert comparable(take_snapshot(restored[0])) == comparable(take_snapshot(trading.engine))
    finally:
        await database.dispose()


def _json_field(value: Any) -> Any:
    return value.value if isinstance(value, Side) else value


async def _accounts(store: SnapshotStore) -> list[list[Any]]:
    async with store.database.connect() as connection:
        return await store._accounts(connection)
