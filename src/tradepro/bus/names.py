"""Every stream and key name the services share, in one place."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

ENGINE_STREAM = "engine-stream"
"""Input to the engine: one stream, one total order."""

CALLBACK_QUEUE = "callback-queue"
"""Engine output: one entry per event, matched by correlation id."""

CALLBACK_QUEUE_MAXLEN = 100_000
"""Callbacks are reproducible by replay, so the queue is capped: at most this many..."""

CALLBACK_QUEUE_MAX_BYTES = 256 * 1024 * 1024
"""...and at most this many bytes of bodies (``CALLBACK_QUEUE_MAX_BYTES``): the oldest go
first, the newest always stays. The bytes counted are the bodies' (Redis needs about a
third more for its own structures)."""

CALLBACK_BYTES_SUFFIX = ":bytes"
"""Redis: the key beside the callback queue holding the bytes of the bodies in it."""

LEASE_KEY = "engine-lease"
EPOCH_KEY = "engine-epoch"
FOLLOWER_KEY = "engine-follower"
"""The shard lease's keys (``tradepro.bus.lease``)."""

RATE_LIMIT_KEY = "ratelimit"
ORDER_LIMIT_KEY = "orderlimit"
READ_LIMIT_KEY = "readlimit"
"""The API's limits shared by its processes (``tradepro.bus.ratelimit``): sign-ups, orders
and reads, each key followed by ``:<what is counted>``. One key per script call, so each
lives in a slot of its own on a Redis Cluster."""


def shard_of(user_id: str, shards: int) -> int:
    """The engine shard that holds ``user_id``: the first 8 bytes of the SHA-256 of the id's
    canonical text (a UUID's lowercase hyphenated form; any other text as it is), read as a
    big-endian unsigned integer, modulo ``shards``. Stable across processes, machines and
    versions (never Python's ``hash()``, which is salted per process); docs/scaling.md."""
    if shards <= 1:
        return 0
    try:
        canonical = str(uuid.UUID(user_id))
    except ValueError:
        canonical = user_id
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % shards


@dataclass(frozen=True)
class ShardNames:
    """The Redis keys of one engine shard. Sharded (or on a Redis Cluster), every key ends
    in the hash tag ``{s<shard>}``: Redis Cluster places a key by the text between the
    braces only, so a shard's stream, callback queue and lease keys share one slot, and
    the scripts that touch several of them (publish with fencing) run on one node."""

    engine_stream: str
    callback_queue: str
    callback_bytes: str
    lease: str
    epoch: str
    follower: str


def shard_names(namespace: str, shard: int = 0, *, tagged: bool = False) -> ShardNames:
    """The keys of ``shard``. Untagged (one shard on a single Redis, as before sharding) the
    names are the historical ones (``engine-stream``, ``callback-queue``, ``engine-lease:0``),
    so an existing deployment keeps its streams; tagged (``ENGINE_SHARDS`` > 1 or
    ``REDIS_CLUSTER=1``) they are ``engine-stream:{s0}``, ``callback-queue:{s0}``, ..."""
    if not tagged:
        return ShardNames(
            engine_stream=namespace + ENGINE_STREAM,
            callback_queue=namespace + CALLBACK_QUEUE,
            callback_bytes=namespace + CALLBACK_QUEUE + CALLBACK_BYTES_SUFFIX,
            lease=f"{namespace}{LEASE_KEY}:{shard}",
            epoch=f"{namespace}{EPOCH_KEY}:{shard}",
            follower=f"{namespace}{FOLLOWER_KEY}:{shard}",
        )
    tag = f"{{s{shard}}}"
    return ShardNames(
        engine_stream=f"{namespace}{ENGINE_STREAM}:{tag}",
        callback_queue=f"{namespace}{CALLBACK_QUEUE}:{tag}",
        callback_bytes=f"{namespace}{CALLBACK_QUEUE}:{tag}{CALLBACK_BYTES_SUFFIX}",
        lease=f"{namespace}{LEASE_KEY}:{tag}",
        epoch=f"{namespace}{EPOCH_KEY}:{tag}",
        follower=f"{namespace}{FOLLOWER_KEY}:{tag}",
    )
