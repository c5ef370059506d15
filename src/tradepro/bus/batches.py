"""Script calls asked for in one event-loop turn, sent to Redis as one call per slot.

The shared limits ask Redis for a grant per key now and then (``tradepro.bus.ratelimit``,
``tradepro.bus.readlimit``). Under load many keys ask in the same turn (each user's first
order of a second, say): one script over all their keys costs one round trip where one
call each cost a round trip per key (measured: ``bench/shared_limits.py``). The script
takes the same number of arguments per key, in the order of the keys, and returns one
result per key. On a Redis Cluster a script may only touch keys of one slot, so the asks
are grouped by their key's slot (one call per slot).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.crc import key_slot

from tradepro.bus.base import BusFullError, BusUnavailableError

_T = TypeVar("_T")


async def limit_call(what: str, call: Awaitable[_T]) -> _T:
    """One limit script call: Redis unreachable becomes ``BusUnavailableError``, Redis out
    of memory ``BusFullError`` (both answered 503: a limit that cannot count refuses,
    never lets everything through)."""
    try:
        return await call
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
        raise BusUnavailableError(f"Redis {what} failed: {error}") from error
    except redis_errors.ResponseError as error:
        if not isinstance(error, redis_errors.OutOfMemoryError) and "OOM" not in str(error):
            raise
        raise BusFullError(f"Redis refused {what}: out of memory: {error}") from error


@dataclass(frozen=True)
class _Ask:
    name: str
    args: tuple[str | int | float, ...]
    apply: Callable[[Any], None]
    """Takes the script's result for this key: called by the sending task, even when every
    caller waiting for it was cancelled, so nothing granted is lost."""
    done: asyncio.Future[None]


class ScriptBatches:
    """Queues asks; the first of a turn schedules the sending for the next turn."""

    def __init__(self, redis: Redis, script: str, what: str, *, cluster: bool) -> None:
        self._redis = redis
        self._script = script
        self._what = what
        self._cluster = cluster
        self._asks: list[_Ask] = []
        self._sending: set[asyncio.Task[None]] = set()
        self.calls = 0
        """Script calls made so far (the benchmark and the tests read it)."""

    def ask(
        self, name: str, args: tuple[str | int | float, ...], apply: Callable[[Any], None]
    ) -> asyncio.Future[None]:
        """Queue the key ``name`` with its ``args``; the future is done once ``apply`` has
        taken the result (or carries the error: Redis unreachable, ``BusUnavailableError``)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        done.add_done_callback(_retrieved)
        self._asks.append(_Ask(name, args, apply, done))
        if len(self._asks) == 1:
            loop.call_soon(self._send)
        return done

    def _send(self) -> None:
        asks, self._asks = self._asks, []
        groups: dict[int, list[_Ask]] = {}
        for ask in asks:
            slot = key_slot(ask.name.encode()) if self._cluster else 0
            groups.setdefault(slot, []).append(ask)
        for group in groups.values():
            task = asyncio.create_task(self._call(group))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _call(self, asks: list[_Ask]) -> None:
        self.calls += 1
        names = [ask.name for ask in asks]
        args = [value for ask in asks for value in ask.args]
        try:
            call = self._redis.eval(self._script, len(asks), *names, *args)
            results = await limit_call(self._what, call)
        except BaseException as error:
            for ask in asks:
                if ask.done.done():
                    continue
                if isinstance(error, asyncio.CancelledError):
                    ask.done.cancel()
                else:
                    ask.done.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for ask, result in zip(asks, results, strict=True):
            ask.apply(result)
            if not ask.done.done():
                ask.done.set_result(None)


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark an ask's error as seen, though every caller waiting for it was cancelled."""
    if not future.cancelled():
        future.exception()
