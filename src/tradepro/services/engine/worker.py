"""The engine service: ``engine-stream`` in, ``callback-queue`` out, snapshots on the side.

One loop, in stream order: read a batch of entries, apply each to the pure engine, publish
the batch's callbacks in one pipelined round trip (which also reads the next batch). Every
``snapshot_interval_s`` the loop drains the engine's changes (a synchronous O(changes) step
between batches) and hands them to a background task that writes them to the database;
only after that write commits is the stream trimmed, and only below the snapshot's id.

Recovery is the same loop: load the latest snapshot, then read the stream from its entry
id. The engine is deterministic and its clock is the entries' timestamps, so the replay
reproduces the state the crashed process had; callbacks that were already published
before the crash are not published again (each callback carries its ``entryId``).

With a lease (Redis, ``tradepro.bus.lease``) the worker applies as primary only while it
holds its shard's lease. Until it wins it, it is a hot standby: restored, applying the
stream as it grows without publishing or writing anything, keeping the callbacks of the
entries the primary has not answered yet. When it wins, it publishes those (the primary
never did: its batches are atomic and in order) and saves what the primary's last
snapshot lacks; the engine is deterministic, so both are exactly what the old primary
would have written. A primary whose epoch another engine replaced is refused by the
publish script and by the snapshot save, and steps down (``fenced``).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import orjson

from tradepro.bus.base import (
    START_ID,
    Bus,
    BusUnavailableError,
    Entry,
    LeaseLostError,
    entry_order,
)
from tradepro.bus.names import shard_of
from tradepro.db.account_events import KEEP_S, EventRow
from tradepro.db.bulk import Pacer
from tradepro.db.snapshot_store import SnapshotFencedError
from tradepro.domain.events import (
    AccountReset,
    ClosedTrade,
    CommandRejected,
    Deposited,
    EndedOrder,
    Event,
    LedgerEntry,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    PositionClosed,
)
from tradepro.domain.orders import RejectReason
from tradepro.engine import Engine, EngineConfig
from tradepro.engine.changes import ChangeSet
from tradepro.engine.snapshot import snapshot_header
from tradepro.protocol.account_events import account_event_message
from tradepro.protocol.apply import apply_entry
from tradepro.protocol.render import callback_body
from tradepro.runtime.heap import no_automatic_full_collections
from tradepro.runtime.retry import RetryPause, retry

if TYPE_CHECKING:  # the embedded default never imports the Redis client
    from tradepro.bus.lease import ShardLease

log = logging.getLogger("tradepro.engine")

SAVE_PACE = 3.0
"""A periodic save waits three times as long as each slice of rows took before the next:
the database then works at most a quarter of the time. On a 2-core machine a burst of it
slowed every reply for its whole length (API p99 at half load: 134-250 ms unpaced, 20 ms
paced). Pacing stops half a snapshot interval into a save, and when saves fall behind (a
save was still running when the next was due) the next one is not paced at all."""


class StateStore(Protocol):
    """Where the worker keeps the engine's state (``tradepro.db.snapshot_store``)."""

    async def restore(self, config: EngineConfig) -> tuple[Engine, str] | None: ...

    async def save(
        self,
        header: dict[str, Any],
        changes: Sequence[ChangeSet],
        last_entry_id: str,
        *,
        pacer: Pacer | None = None,
    ) -> None: ...

    async def record_trades(self, trades: Sequence[ClosedTrade]) -> None: ...

    async def record_history(self, ended: Sequence[EndedOrder]) -> None: ...

    async def record_ledger(self, entries: Sequence[LedgerEntry]) -> None: ...

    async def record_events(self, rows: Sequence[EventRow]) -> None: ...

    async def prune_events(self, before_us: int) -> int: ...

    async def claim(self, epoch: int) -> None: ...

    async def saved_entry_id(self) -> str | None: ...

    async def stored_epoch(self) -> int | None: ...


class FencedBus(Protocol):
    """A bus whose callback publishes check the lease's epoch (``RedisBus``)."""

    def fence(self, epoch_key: str, epoch: int) -> None: ...


SHARD_CHECK_SAMPLE = 256
"""Restored accounts checked against the shard hash at start (``_check_restored_shard``)."""


class ShardMismatchError(RuntimeError):
    """The restored state holds users of other shards: ``ENGINE_SHARDS`` changed."""


class EngineWorker:
    """Runs one engine against a bus and a store until ``stop`` is set."""

    def __init__(
        self,
        bus: Bus,
        store: StateStore,
        config: EngineConfig,
        *,
        snapshot_interval_s: float = 10.0,
        batch_size: int = 1000,
        block_ms: int = 500,
        lease: ShardLease | None = None,
        events_keep_s: int = KEEP_S,
        shard: int = 0,
        shards: int = 1,
    ) -> None:
        if lease is not None and not hasattr(bus, "fence"):
            raise TypeError("a leased engine needs the Redis bus (its publishes are fenced)")
        self.bus = bus
        self.lease = lease
        self.shard, self.shards = shard, shards
        """Which of ``ENGINE_SHARDS`` this engine is: it refuses other shards' users."""
        self.fenced: BaseException | None = None
        """Why this engine stepped down (another engine won the lease), if it did."""
        self.store = store
        self.config = config
        self.snapshot_interval_s = snapshot_interval_s
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.engine = Engine(config)
        self.last_entry_id = START_ID
        """The last entry applied to ``engine``."""
        self.snapshot_entry_id = START_ID
        """The entry id of the last snapshot known to be committed."""
        self._replayed_until: tuple[int, ...] | None = None
        self._read_ahead: list[Entry] = []
        """Entries read with the last publish, to apply next (not applied yet)."""
        self._pending: list[ChangeSet] = []
        self._requested_entry_id = START_ID
        self._saving: asyncio.Task[None] | None = None
        self._unrecorded: list[ClosedTrade] = []
        self._unrecorded_ended: list[EndedOrder] = []
        self._unrecorded_ledger: list[LedgerEntry] = []
        self._unrecorded_events: list[EventRow] = []
        """Account events applied but not yet in the durable log, in order."""
        self.events_keep_s = events_keep_s
        self._pruned_at_us = 0
        self._events_lock = asyncio.Lock()
        self.last_entry_us = 0
        """The engine time of the last entry applied (microseconds)."""
        self._recording: asyncio.Task[None] | None = None
        self._next_snapshot_at = 0.0
        self._stopping = False
        self._behind = False
        self._pacer: Pacer | None = None
        """The running save's pacer: hurried on shutdown, so a stop never waits on rests."""
        self._unpublished: deque[tuple[tuple[int, ...], str, list[Event], Sequence[int | None]]] = (
            deque()
        )
        self._unlogged: deque[tuple[tuple[int, ...], list[EventRow]]] = deque()
        """A standby's account events of the entries after the primary's saved snapshot
        (the primary's log may lack the newest of them); written if this engine takes over."""
        """Standby: (order, entry id, events) of applied entries whose callbacks the primary
        has not published yet."""
        self._covered: list[tuple[tuple[int, ...], ChangeSet]] = []
        """Standby: changes drained at an entry, kept until a primary's save covers it."""

    # -- lifecycle ----------------------------------------------------------------------

    async def recover(self) -> None:
        """Restore the latest snapshot (waiting for the database if it is down)."""
        gc.disable()  # millions of rows and positions, no cycles: collections only cost here
        try:
            await self._restore()
        finally:
            gc.enable()
        # Keep the restored positions out of every future GC pass (they form no cycles).
        gc.freeze()
        self._check_restored_shard()
        last_published = await self._last_published_entry()
        if last_published is not None:
            self._replayed_until = entry_order(last_published)
        log.info(
            "engine restored: %d accounts, %d open positions, replaying after entry %s",
            len(self.engine.accounts),
            len(self.engine.open_by_seq),
            self.last_entry_id,
        )

    def _check_restored_shard(self) -> None:
        """Refuse to run on accounts of other shards: the snapshot was saved with another
        ``ENGINE_SHARDS`` (users would be served by two engines, or by none). A sample is
        enough: after a change of N, about half of any shard's users hash elsewhere."""
        if self.shards <= 1:
            return
        sample = list(itertools.islice(self.engine.accounts, SHARD_CHECK_SAMPLE))
        strangers = [u for u in sample if shard_of(u, self.shards) != self.shard]
        if strangers:
            raise ShardMismatchError(
                f"shard {self.shard} restored {len(strangers)} of {len(sample)} sampled accounts "
                f"that belong to other shards of ENGINE_SHARDS={self.shards} (e.g. "
                f"{strangers[0]}): the data was saved with another ENGINE_SHARDS. Run with "
                "the ENGINE_SHARDS the data was saved with (moving users between shards is "
                "not supported: docs/scaling.md)"
            )

    async def _restore(self) -> None:
        # Any database failure: wait and retry.
        restored = await retry(
            lambda: self.store.restore(self.config), "loading the snapshot from the database", log
        )
        if restored is not None:
            self.engine, entry_id = restored
            self.last_entry_id = self.snapshot_entry_id = self._requested_entry_id = entry_id

    async def run(self, stop: asyncio.Event) -> None:
        """Recover, then consume until ``stop``; finish with a final snapshot. With a
        lease: stand by until it is ours, and step down (``fenced``) if it is lost."""
        lease = self.lease
        if lease is not None:
            # Before restoring: the primary's trims then spare what this restore needs.
            saved = await retry(self.store.saved_entry_id, "reading the snapshot position", log)
            await self._report_position(saved or START_ID)
            await self._epoch_floor(lease)
        await self.recover()
        self._next_snapshot_at = time.monotonic() + self.snapshot_interval_s
        # No automatic full collections while trading: over the positions opened since the
        # last save they took 10-26 ms each, several times per snapshot interval, and every
        # order in flight waited. Young generations are collected as usual, and each save
        # freezes what survived (see ``_save``).
        primary = False
        try:
            with no_automatic_full_collections():
                if lease is not None and not await self._stand_by(lease, stop):
                    return
                primary = True
                await self._trade_until(stop)
        except (LeaseLostError, SnapshotFencedError) as error:
            self._step_down(error)
        finally:
            if primary and self.fenced is None:
                await self._final_snapshot()
            if lease is not None:
                await self._leave(lease)

    async def _trade_until(self, stop: asyncio.Event) -> None:
        pause = RetryPause("reading or publishing on the bus", log, stop=stop)
        lost = self.lease.lost if self.lease is not None else asyncio.Event()
        while not stop.is_set():
            if lost.is_set() or self.fenced is not None:
                raise self.fenced or LeaseLostError(
                    f"another engine won the lease of shard {self.config_shard}"
                )
            try:
                await self._step()
                pause.succeeded()
            except BusUnavailableError as error:
                await pause.after(error)
            if time.monotonic() >= self._next_snapshot_at:
                self._start_snapshot()

    @property
    def config_shard(self) -> int:
        return self.lease.shard if self.lease is not None else 0

    def _step_down(self, error: BaseException) -> None:
        if self.fenced is None:
            self.fenced = error
        log.error(
            "stepping down from shard %d at entry %s: another engine holds its lease now "
            "(%s); nothing more is published or saved by this engine",
            self.config_shard, self.last_entry_id, error,
        )  # fmt: skip

    async def _leave(self, lease: ShardLease) -> None:
        """Stop renewing; give the lease up unless it was lost (a clean stop hands over at
        once instead of after the time to live)."""
        try:
            if self.fenced is None:
                await lease.release()
            else:
                await lease.stop_renewing()
        except BusUnavailableError as error:
            log.warning("lease of shard %d not released (%s); it expires by itself",
                        lease.shard, error)  # fmt: skip
        finally:
            await lease.close()

    # -- the hot standby ----------------------------------------------------------------

    async def _stand_by(self, lease: ShardLease, stop: asyncio.Event) -> bool:
        """Follow the stream until the lease is ours (True) or ``stop`` (False)."""
        published = self._replayed_until
        following = False
        next_attempt = next_log = 0.0
        checking: asyncio.Task[None] | None = None
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_attempt:
                next_attempt = now + lease.renew_ms / 1000
                try:
                    epoch = await lease.try_acquire()
                    if epoch is not None:
                        await self._take_over(lease, epoch, following)
                        return True
                    await self._report_position(self.last_entry_id)
                    published = await self._published_until(published)
                except BusUnavailableError as error:
                    log.warning("standby for shard %d: Redis unavailable (%s)", lease.shard, error)
                    await asyncio.sleep(lease.renew_ms / 1000)
                    continue
                if now >= next_log:
                    next_log = now + 60.0
                    log.info("standby for shard %d, following entry %s (another engine holds "
                             "the lease)", lease.shard, self.last_entry_id)  # fmt: skip
                following = True
            if now >= self._next_snapshot_at and (checking is None or checking.done()):
                self._next_snapshot_at = now + self.snapshot_interval_s
                changes = self.engine.drain_changes()
                if changes:
                    self._covered.append((entry_order(self.last_entry_id), changes))
                checking = asyncio.create_task(self._forget_saved_changes())
            # Wait for entries no longer than until the next attempt on the lease.
            wait_ms = int((next_attempt - time.monotonic()) * 1000)
            try:
                entries = await self.bus.read_entries(
                    self.last_entry_id, self.batch_size, max(1, min(self.block_ms, wait_ms))
                )
            except BusUnavailableError as error:
                log.warning("standby for shard %d: reading the stream failed (%s)",
                            lease.shard, error)  # fmt: skip
                await asyncio.sleep(lease.renew_ms / 1000)
                continue
            self._follow(entries, published)
        if checking is not None:
            await asyncio.gather(checking, return_exceptions=True)
        return False

    def _follow(self, entries: Sequence[Entry], published: tuple[int, ...] | None) -> None:
        """Apply entries as a standby: events kept (rendered only if this engine takes
        over and must publish them), their account events kept for the log until the
        primary's saved snapshot covers them, nothing recorded."""
        instruments = self.config.instruments
        for entry in entries:
            events = self._apply_one(entry)
            seqs = self.engine.event_seqs
            self.last_entry_id = entry_id = entry.entry_id
            self.last_entry_us = entry.ts_us
            if events:
                order = entry_order(entry_id)
                if published is None or order > published:
                    self._unpublished.append((order, entry_id, events, seqs))
                rows = [
                    _event_row(callback_body(event, instruments) | {"seq": seq}, entry.ts_us)
                    for event, seq in zip(events, seqs, strict=True)
                    if seq is not None
                ]
                if rows:
                    self._unlogged.append((order, rows))

    def _render_unpublished(self) -> list[bytes]:
        instruments = self.config.instruments
        bodies: list[bytes] = []
        for _, entry_id, events, seqs in self._unpublished:
            for event, seq in zip(events, seqs, strict=True):
                body = callback_body(event, instruments)
                body["entryId"] = entry_id
                if seq is not None:
                    body["seq"] = seq
                bodies.append(orjson.dumps(body))
        self._unpublished.clear()
        return bodies

    async def _published_until(self, before: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """The entry of the primary's newest callback; forget what it covers."""
        last = await self.bus.last_callback()
        entry_id = None if last is None else orjson.loads(last.body).get("entryId")
        if not isinstance(entry_id, str):
            return before
        published = entry_order(entry_id)
        unpublished = self._unpublished
        while unpublished and unpublished[0][0] <= published:
            unpublished.popleft()
        return published

    async def _forget_saved_changes(self) -> None:
        """Drop the drained changes that the primary's saved snapshot already holds."""
        try:
            saved = await self.store.saved_entry_id()
        except Exception as error:  # noqa: BLE001 - kept until the next check
            log.warning("standby: could not read the saved snapshot position (%s)", error)
            return
        if saved is not None:
            saved_order = entry_order(saved)
            self._covered = [item for item in self._covered if item[0] > saved_order]
            unlogged = self._unlogged
            while unlogged and unlogged[0][0] <= saved_order:
                unlogged.popleft()
            self.snapshot_entry_id = self._requested_entry_id = saved

    async def _epoch_floor(self, lease: ShardLease) -> None:
        """Redis hands out epochs above the database's (it may have lost its data)."""
        stored = await retry(self.store.stored_epoch, "reading the lease epoch", log)
        if stored is None:
            return
        raised = await retry(
            lambda: lease.raise_epoch_floor(stored),
            "raising the lease epoch floor",
            log,
            retry_on=BusUnavailableError,
        )
        if raised:
            log.warning("shard %d: Redis's lease epoch was behind the database's (%d): raised; "
                        "Redis lost its data?", lease.shard, stored)  # fmt: skip

    async def _claim(self, epoch: int) -> SnapshotFencedError | None:
        """The store's claim; a refusal is returned (not retried), a failure raised."""
        try:
            await self.store.claim(epoch)
        except SnapshotFencedError as error:
            return error
        return None

    async def _report_position_gone(self, lease: ShardLease) -> None:
        """A primary's own standby position would hold its trims back: forget it."""
        try:
            await lease.forget_position()
        except BusUnavailableError as error:
            log.warning("standby position not cleared (%s)", error)

    async def _report_position(self, entry_id: str) -> None:
        if self.lease is not None:
            try:
                await self.lease.report_position(entry_id)
            except BusUnavailableError as error:
                log.warning("standby position not reported (%s)", error)

    async def _take_over(self, lease: ShardLease, epoch: int, following: bool) -> None:
        """Won the lease: fence our writes with ``epoch``, publish the callbacks the old
        primary did not, and save what its last snapshot lacks."""
        cast(FencedBus, self.bus).fence(lease.epoch_key, epoch)
        lease.start_renewing()
        # Stale: the loop notices; a refused publish or save raises. Either way, step down.
        refused = await retry(
            lambda: self._claim(epoch), "raising the lease epoch in the database", log
        )
        if refused is not None:
            raise refused
        await self._report_position_gone(lease)
        await self._forget_saved_changes()
        # The old primary can publish nothing more: its last callback is final now.
        published = await self._published_until(None)
        bodies = self._render_unpublished()
        if bodies:
            await retry(lambda: self.bus.publish_callbacks(bodies),
                        f"publishing {len(bodies)} callbacks at takeover", log,
                        retry_on=BusUnavailableError)  # fmt: skip
        last = entry_order(self.last_entry_id)
        self._replayed_until = published if published is not None and published > last else None
        self._pending = [changes for _, changes in self._covered]
        self._covered = []
        # The old primary's log may lack its last events: they go to the log (again: it
        # keeps the copy it has) before this engine's first snapshot commits.
        self._unrecorded_events[:0] = [row for _, rows in self._unlogged for row in rows]
        self._unlogged.clear()
        if following:
            # Write what the old primary may not have (trades, history) without waiting.
            self._next_snapshot_at = time.monotonic()
            log.warning(
                "took over shard %d at entry %s (epoch %d) after the lease expired; "
                "%d callbacks published that the previous primary had not",
                lease.shard, self.last_entry_id, epoch, len(bodies),
            )  # fmt: skip
        else:
            log.info("holds the lease of shard %d (epoch %d), applying after entry %s",
                     lease.shard, epoch, self.last_entry_id)  # fmt: skip

    # -- the loop -----------------------------------------------------------------------

    async def _step(self) -> None:
        entries, self._read_ahead = self._read_ahead, []
        if not entries:
            entries = await self.bus.read_entries(
                self.last_entry_id, self.batch_size, self.block_ms
            )
            if not entries:
                return
        bodies = self._apply(entries)
        if bodies:
            self._read_ahead = await self._publish(bodies)
        if self._unrecorded_anything and (self._recording is None or self._recording.done()):
            self._recording = asyncio.create_task(self._record())

    def _apply(self, entries: Sequence[Entry]) -> list[bytes]:
        """Apply a batch in order; return the callbacks to publish (not yet published)."""
        instruments = self.config.instruments
        replayed_until = self._replayed_until
        bodies: list[bytes] = []
        for entry in entries:
            events = self._apply_one(entry)
            seqs = self.engine.event_seqs
            self.last_entry_id = entry_id = entry.entry_id
            self.last_entry_us = entry.ts_us
            if replayed_until is not None and entry_order(entry_id) <= replayed_until:
                # Its callbacks went out before the restart; its account events may not
                # have been written yet (the log ignores those it has).
                self._record_account_events(entry, events, seqs)
                continue
            for event, seq in zip(events, seqs, strict=True):
                kind = type(event)
                if kind is PositionClosed:
                    self._unrecorded.append(event.trade)  # type: ignore[union-attr]
                elif kind in _ENDINGS:
                    self._unrecorded_ended.append(event.ended)  # type: ignore[union-attr]
                elif kind in _LEDGER:
                    self._unrecorded_ledger.append(event.entry)  # type: ignore[union-attr]
                body = callback_body(event, instruments)
                body["entryId"] = entry_id
                if seq is not None:
                    body["seq"] = seq
                    self._unrecorded_events.append(_event_row(body, entry.ts_us))
                bodies.append(orjson.dumps(body))
        if replayed_until is not None and entry_order(self.last_entry_id) > replayed_until:
            self._replayed_until = None
        return bodies

    def _apply_one(self, entry: Entry) -> list[Event]:
        """Apply one entry; its events' account seqs are then in ``engine.event_seqs``."""
        payload = entry.payload
        if not isinstance(payload, Mapping):
            message = "payload must be a JSON object"
            return self.engine.emit([_invalid(entry, message)])
        if self.shards > 1:
            user_id = payload.get("userId")
            if isinstance(user_id, str) and shard_of(user_id, self.shards) != self.shard:
                return self.engine.emit([self._not_my_user(entry, user_id)])
        try:
            return apply_entry(self.engine, entry.kind, entry.request_id, entry.ts_us, payload)
        except Exception:  # a bug, not bad input: answer it, keep the engine up, log it
            log.exception("internal error applying entry %s (%s)", entry.entry_id, entry.kind)
            message = "the engine could not process this request"
            return self.engine.emit([_invalid(entry, message)])

    def _record_account_events(
        self, entry: Entry, events: Sequence[Event], seqs: Sequence[int | None]
    ) -> None:
        """Queue the account events of an entry replayed after a restart for the log."""
        instruments = self.config.instruments
        for event, seq in zip(events, seqs, strict=True):
            if seq is not None:
                body = callback_body(event, instruments)
                body["seq"] = seq
                self._unrecorded_events.append(_event_row(body, entry.ts_us))

    def _not_my_user(self, entry: Entry, user_id: str) -> CommandRejected:
        """A request for a user of another shard: some process runs with another
        ``ENGINE_SHARDS``. Applying it would open a second account for that user here."""
        owner = shard_of(user_id, self.shards)
        log.warning("entry %s (%s) is for a user of shard %d, not of this shard %d: every "
                    "process must run with ENGINE_SHARDS=%d", entry.entry_id, entry.kind,
                    owner, self.shard, self.shards)  # fmt: skip
        message = (
            f"this request reached engine shard {self.shard}, but the user belongs to shard "
            f"{owner} of {self.shards}: the services disagree on ENGINE_SHARDS"
        )
        return CommandRejected(entry.request_id, None, RejectReason.INVALID_REQUEST, message)

    async def _publish(self, bodies: list[bytes]) -> list[Entry]:
        """Publish until it works: the state already moved on, the replies must follow.

        The first attempt also reads the entries that follow (without waiting), in the
        same round trip: under load the next batch is already there. Returns them."""
        try:
            return await self.bus.publish_callbacks_and_read(
                bodies, self.last_entry_id, self.batch_size
            )
        except BusUnavailableError:
            pass
        await retry(
            lambda: self.bus.publish_callbacks(bodies),
            f"publishing {len(bodies)} callbacks",
            log,
            retry_on=BusUnavailableError,
        )
        return []

    async def _last_published_entry(self) -> str | None:
        last = await retry(
            self.bus.last_callback,
            "reading the last callback at start",
            log,
            retry_on=BusUnavailableError,
        )
        if last is None:
            return None
        entry_id = orjson.loads(last.body).get("entryId")
        return entry_id if isinstance(entry_id, str) else None

    @property
    def _unrecorded_anything(self) -> bool:
        return bool(
            self._unrecorded
            or self._unrecorded_ended
            or self._unrecorded_ledger
            or self._unrecorded_events
        )

    async def _record(self) -> None:
        """Write closed trades, ended orders, deposits and resets, and account events right
        away (history and missed events are readable before the next snapshot), until none
        is left (those applied meanwhile too) or a write fails (the next batch tries again)."""
        while self._unrecorded_anything:
            trades, self._unrecorded = self._unrecorded, []
            ended, self._unrecorded_ended = self._unrecorded_ended, []
            ledger, self._unrecorded_ledger = self._unrecorded_ledger, []
            written = await self._record_events()
            try:
                await self.store.record_trades(trades)
                await self.store.record_history(ended)
                await self.store.record_ledger(ledger)
            except Exception as error:  # noqa: BLE001 - the next snapshot writes them anyway
                log.warning(
                    "%d trades, %d orders, %d deposits or resets not recorded yet (%s)",
                    len(trades),
                    len(ended),
                    len(ledger),
                    error,
                )
                return
            if not written:
                return

    async def _record_events(self) -> bool:
        """Write the account events applied so far, in order; on failure they stay queued
        (ahead of newer ones) for the next write and this returns False. Never raises.
        One write at a time: when this returns True, every event applied before the call
        is in the log."""
        async with self._events_lock:
            rows, self._unrecorded_events = self._unrecorded_events, []
            if not rows:
                return True
            try:
                await self.store.record_events(rows)
            except Exception as error:  # noqa: BLE001 - retried with the next batch or snapshot
                self._unrecorded_events[:0] = rows
                log.warning("%d account events not recorded yet (%s)", len(rows), error)
                return False
            return True

    async def _events_up_to_date(self) -> None:
        """Before a snapshot commits: every account event it covers is in the log, so no
        restart can skip one (a replay starts after the snapshot's entry)."""
        if not await self._record_events():
            raise RuntimeError("account events could not be written")
        if self.last_entry_us - self._pruned_at_us >= PRUNE_EVERY_US:
            self._pruned_at_us = self.last_entry_us
            await self.store.prune_events(self.last_entry_us - self.events_keep_s * 1_000_000)

    # -- snapshots ----------------------------------------------------------------------

    def _start_snapshot(self) -> asyncio.Task[None] | None:
        """Drain changes now (between batches, so consistent) and save in the background."""
        self._next_snapshot_at = time.monotonic() + self.snapshot_interval_s
        changes = self.engine.drain_changes()
        if changes:
            self._pending.append(changes)
        if self._saving is not None and not self._saving.done():
            self._behind = True  # these go with the next save, which must not dawdle
            return None
        if not self._pending and self.last_entry_id == self._requested_entry_id:
            return None  # nothing has happened since the last save
        batch, self._pending = self._pending, []
        header = snapshot_header(self.engine)
        self._requested_entry_id = self.last_entry_id
        self._saving = asyncio.create_task(self._save(header, batch, self.last_entry_id))
        return self._saving

    async def _save(self, header: dict[str, Any], batch: list[ChangeSet], entry_id: str) -> None:
        try:
            # Periodic saves are spread out (the loop keeps trading beside them); the final
            # one, with nothing left to trade, goes at full speed.
            paced = not (self._stopping or self._behind)
            self._behind = False
            pacer = Pacer(SAVE_PACE, self.snapshot_interval_s / 2) if paced else None
            self._pacer = pacer
            await self._events_up_to_date()
            await self.store.save(header, batch, entry_id, pacer=pacer)
        except SnapshotFencedError as error:
            self.fenced = self.fenced or error  # the loop steps down at its next turn
            return
        except Exception as error:  # noqa: BLE001 - keep the changes, retry with the next window
            log.warning("snapshot at entry %s not saved (%s); will retry", entry_id, error)
            self._pending[:0] = batch
            self._requested_entry_id = self.snapshot_entry_id
            return
        self.snapshot_entry_id = entry_id
        # Positions opened since are long-lived too: move them out of the GC's scans (it
        # would otherwise stall the loop for a full pass over them now and then). Young
        # cycles are collected first (cheap), so no garbage cycle is frozen with them.
        gc.collect(1)
        gc.freeze()
        try:
            await self.bus.trim_entries(await self._trim_below(entry_id))
        except BusUnavailableError as error:
            log.warning("could not trim the stream below %s (%s)", entry_id, error)
        except LeaseLostError as error:
            self.fenced = self.fenced or error  # the loop steps down at its next turn

    async def _trim_below(self, entry_id: str) -> str:
        """``entry_id``, or a live standby's position if it is behind (it still reads)."""
        if self.lease is None:
            return entry_id
        follower = await self.lease.follower_position()
        if follower is not None and entry_order(follower) < entry_order(entry_id):
            return follower
        return entry_id

    async def _final_snapshot(self) -> None:
        """Save everything applied so far, retrying a few times (the stream keeps it anyway)."""
        self._stopping = True
        if self._pacer is not None:
            self._pacer.hurry()
        if self._recording is not None:
            await asyncio.gather(self._recording, return_exceptions=True)
        for attempt in range(5):
            if self._saving is not None:
                await asyncio.gather(self._saving, return_exceptions=True)
                self._saving = None
            if self._start_snapshot() is None:
                log.info("final snapshot saved at entry %s", self.snapshot_entry_id)
                return
            await asyncio.sleep(0.1 * attempt)
        log.error("final snapshot not saved; the stream still holds every entry since %s",
                  self.snapshot_entry_id)  # fmt: skip


PRUNE_EVERY_US = 3600 * 1_000_000
"""Old account events are deleted at most once an hour of engine time, with a snapshot."""


def _event_row(body: dict[str, Any], ts_us: int) -> EventRow:
    """The log's row of a numbered account event's callback body."""
    event = account_event_message(body)
    assert event is not None  # a numbered body has its owner, seq and status
    payload = orjson.dumps(event.message).decode()
    return EventRow(event.user_id, event.seq, event.kind, ts_us, payload)


_ENDINGS = frozenset({OrderFilled, OrderCanceled, OrderExpired})
"""Events that end a pending order (its history row is written after the batch)."""
_LEDGER = frozenset({AccountReset, Deposited})
"""Events that carry a ledger entry (its row is written after the batch)."""


def _invalid(entry: Entry, message: str) -> CommandRejected:
    return CommandRejected(entry.request_id, None, RejectReason.INVALID_REQUEST, message)
