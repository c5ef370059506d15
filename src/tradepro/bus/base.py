"""The bus contract shared by the Redis and the embedded implementations.

Entry ids are strings of dash-separated integers (Redis ``"<ms>-<seq>"``, the embedded
journal ``"<rowid>"``), ordered by ``entry_order``; ``"0"`` means "before the first entry".
An entry's ``ts_us`` is assigned by the bus when it is appended (Redis: the stream id's
milliseconds, so entries of one millisecond share it; embedded: a clock kept in the
journal that never goes backwards), so a replay sees exactly the timestamps the first run
saw. A publish that fails with a timeout may still have been appended: the engine answers
a repeated create-order id with ``duplicate_request`` while that order is open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

START_ID = "0"


def entry_order(entry_id: str) -> tuple[int, ...]:
    """A sort key for entry ids of either bus: ``"1700000000000-3"`` or ``"42"``."""
    return tuple(int(part) for part in entry_id.split("-"))


class Entry(NamedTuple):
    """One ``engine-stream`` entry."""

    entry_id: str
    kind: str
    request_id: str
    ts_us: int
    payload: object
    """The decoded JSON payload; anything else (even invalid JSON, as ``None``) is possible:
    the engine answers malformed entries with an error callback."""


class Callback(NamedTuple):
    """One ``callback-queue`` entry: ``body`` is the JSON object, with ``id`` and ``status``."""

    entry_id: str
    body: bytes


class BusUnavailableError(ConnectionError):
    """The bus cannot be reached now; the caller decides whether to retry."""


class BusFullError(BusUnavailableError):
    """The bus refuses writes: Redis has reached its ``maxmemory`` (with ``noeviction``,
    as the deployment notes require). Nothing was appended; reads still work, and writes
    succeed again once memory is freed (the engine trims what its snapshots cover)."""


EXIT_FENCED = 76
"""Exit code of an engine that stepped down: another engine won its shard's lease while it
was frozen or cut off, and its writes were refused. Restarted, it becomes the standby."""


class LeaseLostError(Exception):
    """This engine's fencing token is no longer its shard's current epoch: another engine
    won the lease. The write was refused; the engine must stop applying and step down."""


class Bus(Protocol):
    async def publish(self, kind: str, payload: Mapping[str, object], request_id: str) -> Entry:
        """Append one entry to ``engine-stream``; return it exactly as readers will see it."""
        ...

    async def read_entries(self, after_id: str, count: int, block_ms: int) -> list[Entry]:
        """Entries strictly after ``after_id``, oldest first, waiting up to ``block_ms``."""
        ...

    async def last_entry_id(self) -> str:
        """The id of the newest entry now (``START_ID`` if none): where a tail reader starts."""
        ...

    async def trim_entries(self, below_id: str) -> None:
        """Drop entries with ids strictly below ``below_id`` (never that entry itself)."""
        ...

    async def publish_callbacks(self, bodies: Sequence[bytes]) -> None:
        """Append callbacks in one round trip (pipelined)."""
        ...

    async def publish_callbacks_and_read(
        self, bodies: Sequence[bytes], after_id: str, count: int
    ) -> list[Entry]:
        """``publish_callbacks(bodies)``, then ``read_entries(after_id, count, 0)`` (no
        waiting), in one round trip where the bus allows: the engine's loop under load."""
        ...

    async def read_callbacks(self, after_id: str, count: int, block_ms: int) -> list[Callback]:
        """Callbacks strictly after ``after_id``, oldest first, waiting up to ``block_ms``."""
        ...

    async def last_callback(self) -> Callback | None:
        """The newest callback, if any (the engine reads its ``entryId`` on restart)."""
        ...

    async def last_callback_id(self) -> str:
        """The id of the newest callback now (``START_ID`` if none): where a reader starts."""
        ...

    async def close(self) -> None: ...
