"""``tradepro engine``: the engine worker wired to the configured bus and database."""

from __future__ import annotations

import asyncio
import logging

from tradepro.bus.factory import open_bus
from tradepro.config import Settings
from tradepro.db.engine_store import EngineStore
from tradepro.db.migrate import upgrade
from tradepro.db.session import create_db_engine
from tradepro.services.engine_worker import EngineWorker

log = logging.getLogger("tradepro.engine")


async def serve_engine(settings: Settings, stop: asyncio.Event) -> None:
    """Migrate, recover, and run the engine until ``stop`` is set."""
    settings.tradepro_data_dir.mkdir(parents=True, exist_ok=True)
    database_url = settings.effective_database_url
    await upgrade(database_url)
    # No ping per checkout: it cost three round trips (a third of the CPU of recording a
    # closed trade, done after every batch that closes one). Every store call already
    # survives a failure (retried, or written by the next snapshot), and SQLAlchemy drops
    # a connection that failed with a disconnect, so a restarted database costs one retry.
    database = create_db_engine(database_url, pool_pre_ping=False)
    bus = open_bus(
        settings.redis_url, settings.tradepro_data_dir, namespace=settings.tradepro_bus_namespace
    )
    worker = EngineWorker(
        bus,
        EngineStore(database),
        settings.engine_config(),
        snapshot_interval_s=settings.snapshot_interval_s,
    )
    log.info(
        "engine starting: bus=%s database=%s",
        "redis" if settings.redis_url else "embedded",
        database_url.split("@")[-1],
    )
    try:
        await worker.run(stop)
    finally:
        await bus.close()
        await database.dispose()
