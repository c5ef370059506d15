"""User-sharded engines seen from the processes that talk to them (docs/scaling.md).

With ``ENGINE_SHARDS=N`` there are N engines, each the single writer of its users
(``tradepro.bus.names.shard_of``) and each with its own ``engine-stream`` and
``callback-queue``. An engine opens only its own shard's bus. The API, the WebSocket
server and the poller open a ``ShardedBus``: a request naming a user (``userId`` in its
payload) goes to that user's shard; a price and the feed status go to every shard, since
every engine marks its own positions to market. Any other entry naming no user (a
malformed request) goes to shard 0 alone, which answers it with ``invalid_request``: no
request is ever applied by two engines. Replies are
read from every shard's queue (``Requester`` follows each one, ``shard_buses``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from tradepro.bus.base import Bus, Callback, Entry
from tradepro.bus.names import shard_of

BROADCAST_KINDS = frozenset({"price-update", "feed-status"})
"""What every shard's stream receives: the prices (each engine marks its own positions)
and the feed status (the WebSocket server reads it from shard 0's stream). The bus may not
import the protocol, so the kinds are spelled here; a unit test keeps them equal."""


class ShardedBus:
    """``Bus`` over the buses of every shard, ``shards[k]`` being shard ``k``'s.

    Reading ``engine-stream`` reads shard 0's: every price reaches every shard, so one
    shard's stream is enough to follow the prices (the WebSocket price reader). Reading
    callbacks here reads shard 0's too; a reader of replies must follow every shard
    (``shard_buses``). Publishing callbacks is the engine's, on its own shard's bus."""

    def __init__(self, shards: Sequence[Bus]) -> None:
        if not shards:
            raise ValueError("a sharded bus needs at least one shard")
        self.shards: tuple[Bus, ...] = tuple(shards)

    def shard_for(self, kind: str, payload: Mapping[str, object]) -> int | None:
        """The shard of the user a request names, else 0; None for the entries that go to
        every shard (``BROADCAST_KINDS``)."""
        user_id = payload.get("userId")
        if isinstance(user_id, str):
            return shard_of(user_id, len(self.shards))
        return None if kind in BROADCAST_KINDS else 0

    async def publish(self, kind: str, payload: Mapping[str, object], request_id: str) -> Entry:
        """Append to the user's shard; a price or a feed status goes to every shard (the
        entry returned is shard 0's). Every shard is tried even if one fails; the first
        failure is raised then (a price missing on one shard is superseded by the next)."""
        shard = self.shard_for(kind, payload)
        if shard is not None:
            return await self.shards[shard].publish(kind, payload, request_id)
        results = await asyncio.gather(
            *(bus.publish(kind, payload, request_id) for bus in self.shards),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results[0]  # type: ignore[return-value]  # checked above: an Entry

    async def read_entries(self, after_id: str, count: int, block_ms: int) -> list[Entry]:
        return await self.shards[0].read_entries(after_id, count, block_ms)

    async def last_entry_id(self) -> str:
        return await self.shards[0].last_entry_id()

    async def trim_entries(self, below_id: str) -> None:
        raise RuntimeError("each engine trims its own shard's stream, on its own bus")

    async def publish_callbacks(self, bodies: Sequence[bytes]) -> None:
        raise RuntimeError("each engine publishes its callbacks on its own shard's bus")

    async def publish_callbacks_and_read(
        self, bodies: Sequence[bytes], after_id: str, count: int
    ) -> list[Entry]:
        raise RuntimeError("each engine publishes its callbacks on its own shard's bus")

    async def read_callbacks(self, after_id: str, count: int, block_ms: int) -> list[Callback]:
        return await self.shards[0].read_callbacks(after_id, count, block_ms)

    async def last_callback(self) -> Callback | None:
        return await self.shards[0].last_callback()

    async def last_callback_id(self) -> str:
        return await self.shards[0].last_callback_id()

    async def close(self) -> None:
        for bus in self.shards:
            await bus.close()


def shard_buses(bus: Bus) -> tuple[Bus, ...]:
    """The bus of every shard behind ``bus`` (just ``bus`` when it is not sharded)."""
    return bus.shards if isinstance(bus, ShardedBus) else (bus,)
