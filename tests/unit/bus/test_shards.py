"""User shards: the stable hash, the per-shard key names, and the sharded bus's routing."""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from tradepro.bus.base import START_ID, Callback, Entry
from tradepro.bus.factory import open_bus
from tradepro.bus.lease import ShardLease, shard_keys
from tradepro.bus.names import shard_names, shard_of
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.requests import Requester
from tradepro.bus.shards import BROADCAST_KINDS, ShardedBus, shard_buses
from tradepro.config import Settings, SettingsError
from tradepro.protocol.kinds import Kind

ZERO = "00000000-0000-0000-0000-000000000000"
SOME_USER = "0192f5e4-7a3b-7c00-8000-000000000001"


def test_the_shard_hash_is_pinned() -> None:
    """These values are part of the deployment's data: users live in the shard they hash
    to. Changing them strands every user in the wrong engine; never change them."""
    assert [shard_of(ZERO, n) for n in (1, 2, 3, 4, 16)] == [0, 0, 2, 0, 4]
    assert [shard_of(SOME_USER, n) for n in (1, 2, 3, 4, 16)] == [0, 1, 1, 3, 7]
    assert [shard_of("not-a-uuid", n) for n in (2, 3, 4, 16)] == [1, 0, 3, 7]


def test_the_hash_is_the_documented_one() -> None:
    """The first 8 bytes of SHA-256 of the canonical text, big-endian, modulo N."""
    rng = random.Random(7)
    for _ in range(200):
        user_id = str(uuid.UUID(int=rng.getrandbits(128)))
        value = int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:8], "big")
        for shards in (2, 3, 5, 64):
            assert shard_of(user_id, shards) == value % shards


def test_a_uuid_is_hashed_in_its_canonical_form() -> None:
    spellings = [SOME_USER.upper(), "{" + SOME_USER + "}", SOME_USER.replace("-", "")]
    assert {shard_of(text, 16) for text in spellings} == {shard_of(SOME_USER, 16)}


def test_users_spread_evenly() -> None:
    rng = random.Random(1)
    counts = [0, 0, 0]
    for _ in range(30_000):
        counts[shard_of(str(uuid.UUID(int=rng.getrandbits(128))), 3)] += 1
    assert all(9_500 < count < 10_500 for count in counts), counts


def test_one_shard_keeps_the_historical_names() -> None:
    names = shard_names("ns:", 0)
    assert (names.engine_stream, names.callback_queue) == ("ns:engine-stream", "ns:callback-queue")
    assert names.callback_bytes == "ns:callback-queue:bytes"
    assert (names.lease, names.epoch, names.follower) == (
        "ns:engine-lease:0",
        "ns:engine-epoch:0",
        "ns:engine-follower:0",
    )


def test_sharded_names_carry_one_hash_tag_per_shard() -> None:
    names = shard_names("ns:", 3, tagged=True)
    keys = [
        names.engine_stream,
        names.callback_queue,
        names.callback_bytes,
        names.lease,
        names.epoch,
        names.follower,
    ]
    assert keys == [
        "ns:engine-stream:{s3}",
        "ns:callback-queue:{s3}",
        "ns:callback-queue:{s3}:bytes",
        "ns:engine-lease:{s3}",
        "ns:engine-epoch:{s3}",
        "ns:engine-follower:{s3}",
    ]
    # Redis Cluster hashes the text between the first "{" and the next "}": one slot.
    assert {key[key.index("{") + 1 : key.index("}")] for key in keys} == {"s3"}
    assert shard_keys("ns:", 3, tagged=True) == (names.lease, names.epoch)


def test_a_lease_and_a_bus_of_one_shard_agree_on_the_epoch_key() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", namespace="ns:", shard=2, tagged=True)
    lease = ShardLease("redis://127.0.0.1:1/0", namespace="ns:", shard=2, tagged=True)
    assert bus._callback_keys == [  # the fenced publish script's keys: one slot
        "ns:callback-queue:{s2}",
        "ns:callback-queue:{s2}:bytes",
        lease.epoch_key,
    ]
    assert lease.follower_key == "ns:engine-follower:{s2}"


async def test_open_bus_gives_an_engine_its_shard_and_the_others_every_shard(
    tmp_path: Path,
) -> None:
    engine_bus = open_bus("redis://127.0.0.1:1/0", tmp_path, namespace="ns:", shards=2, shard=1)
    every = open_bus("redis://127.0.0.1:1/0", tmp_path, namespace="ns:", shards=2)
    try:
        assert isinstance(engine_bus, RedisBus)
        assert engine_bus.engine_stream == "ns:engine-stream:{s1}"
        assert isinstance(every, ShardedBus)
        streams = [bus.engine_stream for bus in shard_buses(every)]  # type: ignore[attr-defined]
        assert streams == ["ns:engine-stream:{s0}", "ns:engine-stream:{s1}"]
    finally:
        await engine_bus.close()
        await every.close()


def test_open_bus_refuses_shards_on_the_embedded_bus_and_unknown_shards(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ENGINE_SHARDS > 1 needs REDIS_URL"):
        open_bus(None, tmp_path, shards=2)
    with pytest.raises(ValueError, match="shard 2 is not one of ENGINE_SHARDS=2"):
        open_bus("redis://127.0.0.1:1/0", tmp_path, shards=2, shard=2)


def test_settings_refuse_shards_without_redis_and_a_shard_out_of_range() -> None:
    with pytest.raises(SettingsError, match="ENGINE_SHARDS > 1 needs REDIS_URL"):
        Settings(engine_shards=2).check()
    with pytest.raises(SettingsError, match="ENGINE_SHARD=2 is not a shard of ENGINE_SHARDS=2"):
        Settings(engine_shards=2, engine_shard=2, redis_url="redis://localhost").check()
    Settings(engine_shards=2, engine_shard=1, redis_url="redis://localhost").check()


class _Recorder:
    """A bus that records what was published on it and answers each request itself."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.published: list[tuple[str, dict[str, object]]] = []
        self.callbacks: list[Callback] = []

    async def publish(self, kind: str, payload: Mapping[str, object], request_id: str) -> Entry:
        self.published.append((kind, dict(payload)))
        entry_id = str(len(self.published))
        body = f'{{"id":"{request_id}","status":"account","shard":"{self.name}"}}'
        self.callbacks.append(Callback(entry_id, body.encode()))
        return Entry(entry_id, kind, request_id, 0, dict(payload))

    async def read_callbacks(self, after_id: str, count: int, block_ms: int) -> list[Callback]:
        after = int(after_id)
        fresh = [c for c in self.callbacks if int(c.entry_id) > after][:count]
        if not fresh:
            await asyncio.sleep(0.001)
        return fresh

    async def last_callback_id(self) -> str:
        return self.callbacks[-1].entry_id if self.callbacks else START_ID

    async def close(self) -> None:
        return None


def _sharded(count: int) -> tuple[ShardedBus, list[_Recorder]]:
    shards = [_Recorder(f"s{number}") for number in range(count)]
    return ShardedBus(shards), shards  # type: ignore[arg-type]


async def test_a_request_goes_to_its_users_shard_and_a_price_to_every_shard() -> None:
    bus, shards = _sharded(3)
    users = [str(uuid.UUID(int=number)) for number in range(1, 40)]
    for user_id in users:
        await bus.publish("get-account", {"userId": user_id}, "r")
    for number, shard in enumerate(shards):
        mine = [payload["userId"] for _, payload in shard.published]
        assert mine == [u for u in users if shard_of(u, 3) == number]
        assert mine  # 39 users on 3 shards: each gets some
    await bus.publish("price-update", {"asset": "BTC_USDC"}, "p")
    assert all(shard.published[-1] == ("price-update", {"asset": "BTC_USDC"}) for shard in shards)
    await bus.publish("close-all", {}, "x")  # names no user: one shard answers it
    assert [shard.published[-1][0] for shard in shards] == [
        "close-all",
        "price-update",
        "price-update",
    ]


async def test_the_requester_reads_the_replies_of_every_shard() -> None:
    bus, shards = _sharded(2)
    requester = Requester(bus, timeout_s=5)
    await requester.start()
    try:
        seen = set()
        for number in range(20):
            user_id = str(uuid.UUID(int=number))
            reply = await requester.send_request_and_wait("get-account", {"userId": user_id})
            assert reply["shard"] == f"s{shard_of(user_id, 2)}"
            seen.add(reply["shard"])
        assert seen == {"s0", "s1"}
        assert [int(i or 0) for i in requester.last_seen_ids] == [
            len(shard.callbacks) for shard in shards
        ]
    finally:
        await requester.stop()


async def test_a_sharded_bus_publishes_no_callbacks_and_trims_nothing() -> None:
    bus, _ = _sharded(2)
    with pytest.raises(RuntimeError, match="own shard"):
        await bus.publish_callbacks([b"{}"])
    with pytest.raises(RuntimeError, match="own shard"):
        await bus.trim_entries("1")


def test_the_broadcast_kinds_are_the_protocols() -> None:
    assert frozenset({Kind.PRICE_UPDATE, Kind.FEED_STATUS}) == BROADCAST_KINDS


def test_only_prices_and_the_feed_status_go_everywhere() -> None:
    """A malformed request naming no user goes to shard 0 alone (it answers
    ``invalid_request``): nothing but the broadcasts is ever applied by two engines."""
    bus, _ = _sharded(2)
    assert bus.shard_for("price-update", {"asset": "BTC_USDC"}) is None
    assert bus.shard_for("feed-status", {}) is None
    assert bus.shard_for("create-order", {"userId": 5}) == 0
    assert bus.shard_for("close-all", {}) == 0
    assert bus.shard_for("get-account", {"userId": SOME_USER}) == 1
    assert bus.shard_for("price-update", {"userId": SOME_USER}) == 1
