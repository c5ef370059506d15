"""``open_bus``: Redis when a URL is configured, else the embedded journal."""

from __future__ import annotations

from pathlib import Path

from tradepro.bus.factory import open_bus
from tradepro.bus.names import CALLBACK_QUEUE_MAX_BYTES
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.config import Settings


async def test_without_redis_it_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    bus = open_bus(None, tmp_path / "nested" / "data")
    try:
        assert isinstance(bus, SqliteBus)
        assert bus.path == tmp_path / "nested" / "data" / "bus.db"
        await bus.publish("price-update", {}, "request-0")
        assert bus.path.exists()
    finally:
        await bus.close()


async def test_with_a_url_it_is_redis_and_connects_lazily(tmp_path: Path) -> None:
    bus = open_bus("redis://127.0.0.1:1/0", tmp_path, namespace="ns:")
    try:
        assert isinstance(bus, RedisBus)
        assert (bus.engine_stream, bus.callback_queue) == ("ns:engine-stream", "ns:callback-queue")
        assert not list(tmp_path.iterdir())  # no journal file in Redis mode
    finally:
        await bus.close()


def test_the_setting_defaults_to_the_bus_bound() -> None:
    """``config`` may not import the bus, so it spells the default again: kept equal here."""
    field = Settings.model_fields["callback_queue_max_bytes"]
    assert field.default == CALLBACK_QUEUE_MAX_BYTES
