"""A lease per engine shard in Redis, with a fencing token (docs/single-writer.md).

Two keys per shard (named by ``tradepro.bus.names.shard_names``: ``engine-epoch:0`` with
one shard on a single Redis, ``engine-epoch:{s0}`` when sharded). The epoch key is a
counter: winning the lease ``INCR``s it, and the new value is the winner's fencing token
(its epoch). The lease key holds the current holder's epoch with a time to live: a holder
renews it every ``renew_ms``; when it stops renewing (killed, frozen, cut off), the key
expires after ``ttl_ms`` and another engine may win it, raising the epoch.

The lease decides who may start applying; the epoch is what stops the others. Every
callback publish (``RedisBus``) and every snapshot save (``SnapshotStore``) compares its
epoch with the stored one atomically, inside the same script or transaction as the
write: an engine frozen past its lease and resumed (SIGSTOP, SIGCONT) still holds its
TCP connections, but its epoch is no longer the current one, so its writes are refused.

A holder whose lease expired while nobody else took it keeps its epoch: renewing then
writes the lease key again. Only another engine's win ends a holder's epoch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis import exceptions as redis_errors

from tradepro.bus.base import BusUnavailableError, LeaseLostError
from tradepro.bus.clients import redis_client
from tradepro.bus.names import shard_names

log = logging.getLogger("tradepro.engine")

FOLLOWER_TTL_MS = 60_000
"""How long a standby's report lives in the follower key (``ShardNames.follower``): the
last entry it applied, so the primary's trims never drop entries the standby has not read
yet. One key per shard: one standby per shard is what this supports (a second one's
reports replace the first's)."""

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], epoch, 'PX', ARGV[1])
return epoch
"""
"""Win the lease if nobody holds it: a new epoch, stored in the lease key with its TTL."""

_RENEW = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
"""Compare and extend: only while the epoch is still the caller's."""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""
"""Delete KEYS[1] if it still holds ARGV[1]: give the lease up (a clean stop; a standby
takes over at its next attempt), or forget a standby position that is still ours."""

_RAISE_FLOOR = """
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1]) return 1 end
return 0
"""
"""Make the epoch counter at least ARGV[1] (the database's epoch): a Redis that lost its
data (a fresh server, no persistence) must never hand out an epoch already used."""

_UNAVAILABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


def shard_keys(namespace: str, shard: int, *, tagged: bool = False) -> tuple[str, str]:
    """The lease key and the epoch key of ``shard``."""
    names = shard_names(namespace, shard, tagged=tagged)
    return names.lease, names.epoch


class ShardLease:
    """One engine's view of its shard's lease: acquire, renew in the background, release."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "",
        shard: int = 0,
        ttl_ms: int = 2000,
        renew_ms: int = 500,
        tagged: bool = False,
        cluster: bool = False,
    ) -> None:
        if renew_ms * 2 > ttl_ms:
            raise ValueError("the lease must be renewed at least twice per time to live")
        self.shard = shard
        self.ttl_ms = ttl_ms
        self.renew_ms = renew_ms
        names = shard_names(namespace, shard, tagged=tagged)
        self.lease_key, self.epoch_key = names.lease, names.epoch
        self.follower_key = names.follower
        self.epoch: int | None = None
        """Our fencing token while we hold (or held) the lease."""
        self.lost = asyncio.Event()
        """Set when another engine's epoch replaced ours: stop applying at once."""
        # A client of its own: a renewal never queues behind the engine's batches.
        self._redis = redis_client(
            url,
            cluster=cluster,
            # A renewal that waits longer than half the TTL is late anyway: give up and
            # retry. Connecting gets at least a second (a loaded machine is slow at it).
            socket_timeout=ttl_ms / 2000,
            socket_connect_timeout=max(1.0, ttl_ms / 2000),
            client_name=f"engine-lease-{shard}",
        )
        self._renewing: asyncio.Task[None] | None = None
        self._reported: str | None = None

    async def try_acquire(self) -> int | None:
        """Our new epoch if the lease was free, else None. Raises ``BusUnavailableError``."""
        epoch = int(await self._call(_ACQUIRE, self.ttl_ms))
        if epoch == 0:
            return None
        self.epoch = epoch
        self.lost.clear()
        return epoch

    async def raise_epoch_floor(self, epoch: int) -> bool:
        """Make the next epoch won higher than ``epoch`` (the one the database holds);
        True when the counter in Redis was behind it."""
        return int(await self._call(_RAISE_FLOOR, epoch)) == 1

    async def holder_epoch(self) -> int | None:
        """The epoch holding the lease now (None when it is free)."""
        value = await self._command(self._redis.get(self.lease_key))
        return None if value is None else int(value)

    async def current_epoch(self) -> int:
        """The latest epoch ever won for this shard (0 if none)."""
        value = await self._command(self._redis.get(self.epoch_key))
        return 0 if value is None else int(value)

    async def renew(self) -> bool:
        """Extend our lease; False when another engine's epoch replaced ours (then
        ``lost`` is set)."""
        if self.epoch is None:
            raise LeaseLostError(f"shard {self.shard}: no lease to renew")
        renewed: bool = int(await self._call(_RENEW, str(self.epoch), self.ttl_ms)) == 1
        if not renewed:
            self.lost.set()
        return renewed

    def start_renewing(self, on_lost: Callable[[], None] | None = None) -> None:
        """Renew every ``renew_ms`` in a task of the running loop until ``stop_renewing``
        or until the lease is lost (then ``on_lost()``)."""
        self._renewing = asyncio.create_task(self._renew_until_lost(on_lost))

    async def _renew_until_lost(self, on_lost: Callable[[], None] | None) -> None:
        failing_since: float | None = None
        while True:
            await asyncio.sleep(self.renew_ms / 1000)
            try:
                renewed = await self.renew()
            except BusUnavailableError as error:
                # Nothing to do but retry: our writes are fenced anyway if another
                # engine wins meanwhile.
                now = time.monotonic()
                failing_since = failing_since or now
                if (now - failing_since) * 1000 >= self.ttl_ms:
                    log.warning("shard %d: lease not renewed for %.1f s (%s)",
                                self.shard, now - failing_since, error)  # fmt: skip
                continue
            failing_since = None
            if not renewed:
                if on_lost is not None:
                    on_lost()
                return

    async def stop_renewing(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
            self._renewing = None

    async def release(self) -> None:
        """Give the lease up if it is still ours (a standby need not wait for the TTL)."""
        await self.stop_renewing()
        if self.epoch is not None:
            await self._call(_RELEASE, str(self.epoch), keys=[self.lease_key])

    async def report_position(self, entry_id: str) -> None:
        """A standby: the last entry applied (kept for ``FOLLOWER_TTL_MS``: a restore of
        millions of positions takes a while)."""
        await self._command(self._redis.set(self.follower_key, entry_id, px=FOLLOWER_TTL_MS))
        self._reported = entry_id

    async def forget_position(self) -> None:
        """The standby became primary: its own position no longer holds trims back (a
        position another engine reported since is left alone)."""
        if self._reported is not None:
            await self._call(_RELEASE, self._reported, keys=[self.follower_key])
            self._reported = None

    async def follower_position(self) -> str | None:
        """The last entry a live standby reported, if any."""
        value = await self._command(self._redis.get(self.follower_key))
        return None if value is None else value.decode()

    async def close(self) -> None:
        await self.stop_renewing()
        await self._redis.aclose()

    async def _call(self, script: str, *args: object, keys: list[str] | None = None) -> Any:
        keys = keys or [self.lease_key, self.epoch_key]
        return await self._command(self._redis.eval(script, len(keys), *keys, *args))  # type: ignore[arg-type]

    async def _command(self, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except _UNAVAILABLE as error:
            raise BusUnavailableError(f"Redis lease of shard {self.shard}: {error}") from error
