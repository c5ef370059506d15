"""``tradepro engine``: the engine worker wired to the configured bus and database."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.bus.base import EXIT_FENCED
from tradepro.bus.factory import open_bus
from tradepro.config import Settings
from tradepro.db.migrate import upgrade
from tradepro.db.models import User
from tradepro.db.session import open_database
from tradepro.db.snapshot_store import SnapshotStore
from tradepro.runtime.folder_lock import EXIT_LOCKED, FolderLock, Holder, wait_for_lock
from tradepro.services.engine.worker import EngineWorker, ShardMismatchError

log = logging.getLogger("tradepro.engine")

ENGINE_LOCK_FILE = "engine.lock"
EXIT_SHARDS = 2
"""Exit code of an engine whose stored data was saved with another ``ENGINE_SHARDS``."""


async def serve_engine(settings: Settings, stop: asyncio.Event) -> None:
    """Lock the data folder (embedded default), migrate, recover, and run the engine until
    ``stop`` is set."""
    settings.tradepro_data_dir.mkdir(parents=True, exist_ok=True)
    lock = await lock_data_folder(settings, stop)
    try:
        if not stop.is_set():
            await _serve(settings, stop)
    finally:
        if lock is not None:
            lock.release()


async def lock_data_folder(settings: Settings, stop: asyncio.Event) -> FolderLock | None:
    """The engine's exclusive lock on the data folder, when its state lives there (the
    embedded bus or the SQLite database): a second engine on the folder waits, saying what
    for, and ends with ``EXIT_LOCKED`` after ``ENGINE_LOCK_TIMEOUT_S``. None with Redis and
    PostgreSQL both set (the folder holds nothing of the engine's; see the docs)."""
    if not settings.state_in_data_folder:
        return None
    lock = FolderLock(settings.tradepro_data_dir / ENGINE_LOCK_FILE)
    timeout_s = settings.engine_lock_timeout_s

    def progress(holders: list[Holder], waited_s: float) -> None:
        who = ", ".join(map(str, holders)) or "another process"
        log.warning(
            "waiting for the data folder %s: another engine uses it (%s); %.0f s of %g s "
            "(ENGINE_LOCK_TIMEOUT_S)", settings.tradepro_data_dir, who, waited_s, timeout_s,
        )  # fmt: skip

    if await wait_for_lock(lock, timeout_s, progress, stop=stop):
        log.info("engine holds the data folder %s", settings.tradepro_data_dir)
        return lock
    lock.release()
    if stop.is_set():
        return None
    who = ", ".join(map(str, lock.holders())) or "another process"
    log.error(
        "another engine still uses the data folder %s after %g s (%s): two engines must "
        "never apply one journal. Stop it, or give this one its own TRADEPRO_DATA_DIR.",
        settings.tradepro_data_dir, timeout_s, who,
    )  # fmt: skip
    raise SystemExit(EXIT_LOCKED)


async def stored_beyond(database: AsyncEngine, shards: int) -> int | None:
    """The highest shard number some user is stored under, if it is ``shards`` or more: the
    data was saved with more shards than ``ENGINE_SHARDS`` (those users have no engine)."""
    async with database.connect() as connection:
        query = select(func.max(User.engine_shard)).where(User.engine_shard >= shards)
        highest = (await connection.execute(query)).scalar()
    return None if highest is None else int(highest)


async def _serve(settings: Settings, stop: asyncio.Event) -> None:
    database_url = settings.effective_database_url
    await upgrade(database_url)
    # No ping per checkout: it cost three round trips (a third of the CPU of recording a
    # closed trade, done after every batch that closes one). Every store call already
    # survives a failure (retried, or written by the next snapshot), and SQLAlchemy drops
    # a connection that failed with a disconnect, so a restarted database costs one retry.
    database = open_database(database_url, pool_pre_ping=False)
    highest = await stored_beyond(database, settings.engine_shards)
    if highest is not None:
        await database.dispose()
        log.error(
            "the database holds users of shard %d, but ENGINE_SHARDS=%d: the data was saved "
            "with more shards. Run with the ENGINE_SHARDS it was saved with (moving users "
            "between shards is not supported: docs/scaling.md)", highest, settings.engine_shards,
        )  # fmt: skip
        raise SystemExit(EXIT_SHARDS)
    shard = settings.engine_shard  # this engine applies its shard's stream only
    bus = open_bus(
        settings.redis_url,
        settings.tradepro_data_dir,
        namespace=settings.tradepro_bus_namespace,
        callback_max_bytes=settings.callback_queue_max_bytes,
        shards=settings.engine_shards,
        shard=shard,
        cluster=settings.redis_cluster,
    )
    # With Redis, the shard's lease decides which engine applies (docs/single-writer.md);
    # the embedded bus has the data-folder lock instead.
    lease = None
    if settings.redis_url:
        from tradepro.bus.lease import ShardLease  # noqa: PLC0415 - embedded mode skips redis

        lease = ShardLease(
            settings.redis_url,
            namespace=settings.tradepro_bus_namespace,
            shard=shard,
            tagged=settings.engine_shards > 1 or settings.redis_cluster,
            cluster=settings.redis_cluster,
            ttl_ms=settings.engine_lease_ttl_ms,
            renew_ms=settings.engine_lease_renew_ms,
        )
    worker = EngineWorker(
        bus,
        SnapshotStore(database, shard=shard),
        settings.engine_config(),
        snapshot_interval_s=settings.snapshot_interval_s,
        lease=lease,
        events_keep_s=settings.account_events_keep_days * 86_400,
        shard=shard,
        shards=settings.engine_shards,
    )
    log.info(
        "engine starting: shard %d of %d, bus=%s database=%s",
        shard,
        settings.engine_shards,
        "redis" if settings.redis_url else "embedded",
        database_url.split("@")[-1],
    )
    try:
        await worker.run(stop)
    except ShardMismatchError as error:
        log.error("%s", error)
        raise SystemExit(EXIT_SHARDS) from None
    finally:
        await bus.close()
        await database.dispose()
    if worker.fenced is not None:
        raise SystemExit(EXIT_FENCED)
