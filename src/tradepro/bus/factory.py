"""Pick the bus: Redis when ``REDIS_URL`` is set, else the embedded SQLite journal."""

from __future__ import annotations

from pathlib import Path

from tradepro.bus.base import Bus
from tradepro.bus.names import CALLBACK_QUEUE_MAX_BYTES

EMBEDDED_BUS_FILE = "bus.db"


def open_bus(
    redis_url: str | None,
    data_dir: Path,
    *,
    namespace: str = "",
    callback_max_bytes: int = CALLBACK_QUEUE_MAX_BYTES,
) -> Bus:
    """A ``RedisBus`` for ``redis_url``, else a ``SqliteBus`` at ``data_dir / "bus.db"``.
    ``callback_max_bytes`` bounds the callbacks that this process publishes (the engine)."""
    if redis_url:
        from tradepro.bus.redis_bus import RedisBus  # noqa: PLC0415 - embedded mode skips redis

        return RedisBus(redis_url, namespace=namespace, callback_max_bytes=callback_max_bytes)
    from tradepro.bus.sqlite_bus import SqliteBus  # noqa: PLC0415 - symmetric, cheap

    data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteBus(data_dir / EMBEDDED_BUS_FILE, callback_max_bytes=callback_max_bytes)
