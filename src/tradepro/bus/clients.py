"""Redis clients for one server or for a Redis Cluster (``REDIS_CLUSTER=1``).

On a cluster, ``REDIS_URL`` names any one node: redis-py's ``RedisCluster`` reads the slot
map from it and sends each command to the node that holds its key. Every key the platform
uses carries a hash tag when ``REDIS_CLUSTER=1`` (``tradepro.bus.names.shard_names``), so
each script touches keys of one slot only, as Redis Cluster requires.

Two differences from a single server, handled here. The cluster client retries commands
on connection errors by default; a retried ``XADD`` may append twice, so retries are off
(as on one server: the caller owns the correlation id and decides). And its per-node
connection pool raises instead of waiting when full, so it gets room for every blocking
reader and batch a process may have at once (``max_connections`` per node).
"""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

CLUSTER_CONNECTIONS_PER_NODE = 256
"""A cluster client's connections per node at most (a single server's pools wait for a free
connection instead; the cluster's fail with ``MaxConnectionsError``)."""


def redis_client(url: str, *, cluster: bool = False, **options: Any) -> Redis:
    """A client for ``url``: ``Redis`` (``options`` are ``Redis.from_url``'s), or with
    ``cluster`` a ``RedisCluster`` seeded from that node. The cluster client speaks the
    same commands, pipelines and scripts for single-slot keys; it is typed as ``Redis``
    so that callers use only what both have (the tests run both)."""
    if not cluster:
        return Redis.from_url(url, **options)
    client = RedisCluster.from_url(
        url,
        retry=Retry(NoBackoff(), 0),
        max_connections=CLUSTER_CONNECTIONS_PER_NODE,
        **options,
    )
    return cast(Redis, client)
