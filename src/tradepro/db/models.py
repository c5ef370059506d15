"""Tables: users, closed trades, and what the engine needs to recover.

Units as in the engine: money in integer cents, prices in integer ticks and quantities in
integer lots of the instrument's scale (``tradepro.domain.instruments``). Ids are UUIDs,
held in Python as canonical lowercase strings on every database (native ``uuid`` on
PostgreSQL, 32 hex characters on SQLite). Times are timezone-aware UTC ``datetime``s on
every database too (``UtcDateTime``).

Schema changes go through the Alembic migrations in ``migrations/versions``; these classes
must describe the same schema (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
EMAIL_LENGTH = 320
ASSET_LENGTH = 32
IDEMPOTENCY_KEY_LENGTH = 128
NOW = text("CURRENT_TIMESTAMP")


class UtcDateTime(TypeDecorator[datetime]):
    """``timestamptz`` on PostgreSQL, a UTC text on SQLite; aware UTC datetimes in Python."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give it a timezone (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite keeps no offset: the stored text is UTC
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def uuid_column() -> Uuid[str]:
    """A UUID column whose Python values are canonical strings, not ``uuid.UUID``."""
    return Uuid(as_uuid=False)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """A trader. ``balance`` is free cash in cents, written only by the engine."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(uuid_column(), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH), unique=True)
    """Null while only the engine knows the account; the API sets it at sign-up."""
    last_logged_in: Mapped[datetime | None] = mapped_column(UtcDateTime())
    balance: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    engine_shard: Mapped[int | None] = mapped_column(Integer)
    """The engine shard that holds this account; null until an engine has registered it
    (a row the API created at sign-up is not an engine account yet)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=NOW)
    event_seq: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    """The ``seq`` of the account's last event, as of the engine's last snapshot."""


class ExistingTrade(Base):
    """A closed trade, written once by the engine and never changed (id = order id, or a
    partial close's request id)."""

    __tablename__ = "existing_trades"
    id: Mapped[str] = mapped_column(uuid_column(), primary_key=True)
    user_id: Mapped[str] = mapped_column(uuid_column(), ForeignKey("users.id"))
    asset: Mapped[str] = mapped_column(String(ASSET_LENGTH))
    side: Mapped[str] = mapped_column(String(4))
    """``buy`` or ``sell``."""
    quantity: Mapped[int] = mapped_column(BigInteger)
    """Lots of the instrument's quantity scale."""
    leverage: Mapped[int] = mapped_column(Integer)
    open_price: Mapped[int] = mapped_column(BigInteger)
    close_price: Mapped[int] = mapped_column(BigInteger)
    pnl: Mapped[int] = mapped_column(BigInteger)
    """Realized PnL in cents actually credited (never below -margin)."""
    margin: Mapped[int] = mapped_column(BigInteger)
    liquidation_price: Mapped[int] = mapped_column(BigInteger)
    take_profit: Mapped[int | None] = mapped_column(BigInteger)
    stop_loss: Mapped[int | None] = mapped_column(BigInteger)
    slippage: Mapped[int | None] = mapped_column(Integer)
    """The slippage tolerance the order carried, in basis points."""
    reason: Mapped[str] = mapped_column(String(16))
    """``take_profit``, ``stop_loss``, ``margin_call`` or ``user``."""
    liquidated: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """When the position opened."""
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    commission: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    """Cents of commission the trade paid (its share of the open one, plus the close one)."""
    order_id: Mapped[str | None] = mapped_column(uuid_column())
    """A partial close's position (its ``id`` is the close request's); null: ``id``."""


# get-close-orders: a user's trades newest first, keyset-paginated by (closed_at, id).
Index(
    "ix_existing_trades_user_id_closed_at_id",
    ExistingTrade.user_id,
    ExistingTrade.closed_at.desc(),
    ExistingTrade.id.desc(),
)


class OpenPosition(Base):
    """An open position as the engine holds it: every ``Position`` field, same names."""

    __tablename__ = "open_positions"
    __table_args__ = (UniqueConstraint("shard", "seq"),)

    shard: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    seq: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[str] = mapped_column(uuid_column(), primary_key=True)
    user_id: Mapped[str] = mapped_column(uuid_column())
    """The owner; no foreign key nor index: only the engine uses this table (migration
    0004), and it writes the owner's row first, in the same transaction."""
    asset: Mapped[str] = mapped_column(String(ASSET_LENGTH))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[int] = mapped_column(BigInteger)
    leverage: Mapped[int] = mapped_column(Integer)
    open_price: Mapped[int] = mapped_column(BigInteger)
    margin: Mapped[int] = mapped_column(BigInteger)
    take_profit: Mapped[int | None] = mapped_column(BigInteger)
    stop_loss: Mapped[int | None] = mapped_column(BigInteger)
    liquidation_price: Mapped[int] = mapped_column(BigInteger)
    slippage_bps: Mapped[int | None] = mapped_column(Integer)
    opened_us: Mapped[int] = mapped_column(BigInteger)
    trailing_stop: Mapped[int | None] = mapped_column(BigInteger)
    commission: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class EngineState(Base):
    """One row per engine shard: the snapshot header and the last applied stream id."""

    __tablename__ = "engine_state"

    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, default=0)
    last_entry_id: Mapped[str] = mapped_column(Text)
    header: Mapped[dict[str, object]] = mapped_column(JSON)
    """``tradepro.engine.snapshot.snapshot_header`` output."""
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=NOW)


class EngineLease(Base):
    """The fencing epoch of each engine shard's lease (``tradepro.bus.lease``): raised by
    an engine when it wins the lease, and checked by every snapshot save, so an engine
    that lost the lease can no longer save over its successor's state."""

    __tablename__ = "engine_leases"

    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=NOW)


class EngineOrderId(Base):
    """An order id the engine opened, kept while it is inside the engine's order id window.

    Saved with each snapshot (ids of the positions opened or closed since the last one) and
    deleted once older than the snapshot's horizon, so the table holds one window's ids:
    recovery rebuilds the engine's window from it (docs/order-ids.md).
    """

    __tablename__ = "engine_order_ids"

    order_id: Mapped[str] = mapped_column(uuid_column(), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer)
    made_ms: Mapped[int] = mapped_column(BigInteger)
    """The id's own time (its first 48 bits), in ms since the epoch."""


Index("ix_engine_order_ids_shard_made_ms", EngineOrderId.shard, EngineOrderId.made_ms)


class IdempotencyKey(Base):
    """A create-order's ``Idempotency-Key``: the order id chosen for it and its first answer.

    Shared by every API process; kept for ``IDEMPOTENCY_RETENTION_S`` after ``created_at``.
    """

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(uuid_column(), primary_key=True)
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) of the request's canonical form: the same order however it was spelled."""
    order_id: Mapped[str] = mapped_column(uuid_column())
    """Chosen (a fresh time-ordered UUID) before the engine is asked; never changes."""
    status: Mapped[int | None] = mapped_column(Integer)
    """The first answer's HTTP status; null until it is known."""
    response: Mapped[dict[str, object] | None] = mapped_column(JSON)
    """The first answer's JSON body; null until it is known."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_idempotency_keys_created_at", IdempotencyKey.created_at)


class SignInLink(Base):
    """An e-mailed sign-in link: valid 15 minutes, consumed at most once."""

    __tablename__ = "sign_in_links"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The link token's ``jti``."""
    user_id: Mapped[str] = mapped_column(uuid_column(), ForeignKey("users.id"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=NOW)


class Candle(Base):
    """One minute of quotes for one asset, on the mid price.

    The mid ``(bid + ask) / 2`` is rounded half-even to the instrument's price ticks. Written
    by the price feed (``tradepro poller``) as quotes arrive; read by ``GET /api/v1/candles``.
    """

    __tablename__ = "candles"

    asset: Mapped[str] = mapped_column(String(ASSET_LENGTH), primary_key=True)
    start_s: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """The minute's first second, as seconds since the epoch (a multiple of 60)."""
    open: Mapped[int] = mapped_column(BigInteger)
    high: Mapped[int] = mapped_column(BigInteger)
    low: Mapped[int] = mapped_column(BigInteger)
    close: Mapped[int] = mapped_column(BigInteger)
    quotes: Mapped[int] = mapped_column(Integer)
    """How many quotes the minute aggregates."""
    simulated: Mapped[bool] = mapped_column(Boolean)
    """True when any of those quotes came from the simulated feed."""
    backfill: Mapped[bool] = mapped_column(Boolean, server_default=false())
    """True when the simulated feed generated the minute as history on its first run (no
    quote was recorded: ``quotes`` is 0)."""


class RevokedSession(Base):
    """A signed-out session token, refused until it would have expired anyway."""

    __tablename__ = "revoked_sessions"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The session token's ``jti``."""
    user_id: Mapped[str] = mapped_column(uuid_column())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    """The token's own expiry: after it the row serves nothing and is deleted."""
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=NOW)


class PendingOrderRow(Base):
    """A pending (limit or stop) order as the engine holds it: every ``PendingOrder``
    field, same names. Only the engine reads and writes it (snapshots and recovery)."""

    __tablename__ = "pending_orders"

    shard: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    seq: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[str] = mapped_column(uuid_column(), primary_key=True)
    user_id: Mapped[str] = mapped_column(uuid_column())
    asset: Mapped[str] = mapped_column(String(ASSET_LENGTH))
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(8))
    qty: Mapped[int] = mapped_column(BigInteger)
    leverage: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    take_profit: Mapped[int | None] = mapped_column(BigInteger)
    stop_loss: Mapped[int | None] = mapped_column(BigInteger)
    reserved: Mapped[int] = mapped_column(BigInteger)
    expires_us: Mapped[int | None] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)
    trailing_stop: Mapped[int | None] = mapped_column(BigInteger)


class OrderHistoryRow(Base):
    """A pending order that ended (filled, cancelled, expired or refused at its fill),
    written once by the engine and never changed (id = order id)."""

    __tablename__ = "order_history"

    id: Mapped[str] = mapped_column(uuid_column(), primary_key=True)
    user_id: Mapped[str] = mapped_column(uuid_column())
    asset: Mapped[str] = mapped_column(String(ASSET_LENGTH))
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int] = mapped_column(BigInteger)
    leverage: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    """The limit or stop price, in ticks."""
    take_profit: Mapped[int | None] = mapped_column(BigInteger)
    stop_loss: Mapped[int | None] = mapped_column(BigInteger)
    reserved: Mapped[int] = mapped_column(BigInteger)
    """Cents it had reserved when it ended."""
    status: Mapped[str] = mapped_column(String(16))
    """``filled``, ``canceled``, ``expired`` or ``rejected``."""
    reason: Mapped[str] = mapped_column(String(24))
    """``filled``, ``user``, ``expired`` or ``insufficient_balance``."""
    fill_price: Mapped[int | None] = mapped_column(BigInteger)
    """The price it filled at (a ``filled`` order only)."""
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    trailing_stop: Mapped[int | None] = mapped_column(BigInteger)


# get-order-history: a user's ended orders newest first, keyset-paginated by (ended_at, id).
Index(
    "ix_order_history_user_id_ended_at_id",
    OrderHistoryRow.user_id,
    OrderHistoryRow.ended_at.desc(),
    OrderHistoryRow.id.desc(),
)


class ApiKey(Base):
    """A key a program signs in with (``tpk_...``); the key itself is never stored, only
    its SHA-256 digest (a random 256-bit key needs no slow hash: nothing to brute-force)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(uuid_column(), primary_key=True)
    user_id: Mapped[str] = mapped_column(uuid_column(), ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters, shown in lists so a person can tell keys apart."""
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the whole key, in hex."""
    scopes: Mapped[str] = mapped_column(String(32))
    """``read`` or ``read,trade``."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=NOW)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """Written at most once a minute per key and process (so: to the minute)."""
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class LedgerEntryRow(Base):
    """Paper money put in or taken out of an account outside trading: a deposit, or what
    a reset changed. Written by the engine service; the id is the command's request id."""

    __tablename__ = "ledger_entries"

    id: Mapped[str] = mapped_column(uuid_column(), primary_key=True)
    user_id: Mapped[str] = mapped_column(uuid_column())
    kind: Mapped[str] = mapped_column(String(16))
    """``deposit`` or ``reset``."""
    amount: Mapped[int] = mapped_column(BigInteger)
    """Cents added to the free balance (negative when a reset took money out)."""
    balance_after: Mapped[int] = mapped_column(BigInteger)
    """The free balance right after, in cents."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """The engine's clock (the entry's timestamp)."""


Index(
    "ix_ledger_entries_user_id_created_at_id",
    LedgerEntryRow.user_id,
    LedgerEntryRow.created_at,
    LedgerEntryRow.id,
)


class AccountEvent(Base):
    """One account event (``placed``, ``created``, ``closed``, ...) as the ws ``orders``
    channel sent it, numbered per user by the engine (``seq``). Written by the engine
    service after each batch, idempotently by (user_id, seq); kept ``ACCOUNT_EVENTS_KEEP_DAYS``."""

    __tablename__ = "account_events"

    user_id: Mapped[str] = mapped_column(uuid_column(), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    """The engine time of the entry that caused it."""
    payload: Mapped[str] = mapped_column(Text)
    """The event as JSON text: ``{"type": "order", "event": ..., "seq": ..., "order": ...}``."""
