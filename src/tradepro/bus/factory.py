"""Pick the bus: Redis when ``REDIS_URL`` is set, else the embedded SQLite journal."""

from __future__ import annotations

from pathlib import Path

from tradepro.bus.base import Bus
from tradepro.bus.names import CALLBACK_QUEUE_MAX_BYTES

EMBEDDED_BUS_FILE = "bus.db"
EMBEDDED_ONE_SHARD = (
    "ENGINE_SHARDS > 1 needs REDIS_URL: the embedded bus is one journal for one engine. "
    "Set REDIS_URL (and DATABASE_URL) to run several engine shards, or ENGINE_SHARDS=1."
)


def open_bus(
    redis_url: str | None,
    data_dir: Path,
    *,
    namespace: str = "",
    callback_max_bytes: int = CALLBACK_QUEUE_MAX_BYTES,
    shards: int = 1,
    shard: int | None = None,
    cluster: bool = False,
) -> Bus:
    """A ``RedisBus`` for ``redis_url``, else a ``SqliteBus`` at ``data_dir / "bus.db"``.
    ``callback_max_bytes`` bounds the callbacks that this process publishes (the engine).

    With ``shards`` > 1 (``ENGINE_SHARDS``): the bus of ``shard`` alone (an engine), or
    with ``shard`` None a ``ShardedBus`` over every shard's (the other services). The
    embedded journal has one shard only: more are refused with ``ValueError``. ``cluster``
    (``REDIS_CLUSTER=1``): ``REDIS_URL`` is a node of a Redis Cluster."""
    if shards < 1 or (shard is not None and not 0 <= shard < shards):
        raise ValueError(f"shard {shard} is not one of ENGINE_SHARDS={shards}")
    if redis_url:
        from tradepro.bus.redis_bus import RedisBus  # noqa: PLC0415 - embedded mode skips redis
        from tradepro.bus.shards import ShardedBus  # noqa: PLC0415 - with its bus

        tagged = shards > 1 or cluster  # a cluster needs the hash tags even for one shard

        def one(number: int) -> RedisBus:
            return RedisBus(redis_url, namespace=namespace, callback_max_bytes=callback_max_bytes,
                            shard=number, tagged=tagged, cluster=cluster)  # fmt: skip

        if shard is not None or shards == 1:
            return one(shard or 0)
        return ShardedBus([one(number) for number in range(shards)])
    if shards > 1:
        raise ValueError(EMBEDDED_ONE_SHARD)
    from tradepro.bus.sqlite_bus import SqliteBus  # noqa: PLC0415 - symmetric, cheap

    data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteBus(data_dir / EMBEDDED_BUS_FILE, callback_max_bytes=callback_max_bytes)
