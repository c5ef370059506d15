"""End-to-end helpers: the engine as a real process, a callback collector, a reference run.

The reference is the pure engine fed the very entries the stream held (ids, timestamps and
payloads as published), so "the same state as a run with no kills" is checked exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from tradepro.bus.base import START_ID, Bus, BusUnavailableError, Entry
from tradepro.db.models import AccountEvent, ExistingTrade, LedgerEntryRow, OrderHistoryRow
from tradepro.db.session import open_database
from tradepro.db.snapshot_store import SnapshotStore
from tradepro.domain.events import (
    AccountReset,
    ClosedTrade,
    Deposited,
    EndedOrder,
    LedgerEntry,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    PositionClosed,
)
from tradepro.engine import Engine, EngineConfig
from tradepro.engine.snapshot import take_snapshot
from tradepro.protocol.apply import apply_entry
from tradepro.protocol.render import callback_body

REPO = Path(__file__).resolve().parents[2]


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = 30.0, what: str = ""
) -> None:
    """Poll ``condition`` until it holds (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or condition}")
        await asyncio.sleep(0.02)


class ServiceProcess:
    """``tradepro <service> <args>`` as a child process, with its log kept for failures."""

    def __init__(
        self, service: str, env: Mapping[str, str], log_path: Path, args: Sequence[str] = ()
    ) -> None:
        self.service = service
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_path = log_path
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tradepro.cli", self.service, *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def terminate(self, timeout_s: float = 30.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout_s)
        self.process = None
        return code

    def close(self) -> None:
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class EngineProcess(ServiceProcess):
    """``tradepro engine`` as a child process, with its log kept for failures."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        super().__init__("engine", env, log_path)


@dataclass
class CallbackCollector:
    """Reads ``callback-queue`` from the start and keeps every body by correlation id."""

    bus: Bus
    bodies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    count: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        after = START_ID
        while True:
            try:
                callbacks = await self.bus.read_callbacks(after, 1000, 200)
            except BusUnavailableError:
                await asyncio.sleep(0.1)
                continue
            for callback in callbacks:
                body = orjson.loads(callback.body)
                self.bodies.setdefault(body["id"], []).append(body)
                self.count += 1
                after = callback.entry_id


async def publish_retrying(
    bus: Bus, kind: str, payload: Mapping[str, Any], request_id: str
) -> Entry:
    """Publish, retrying while the bus is down (a refused connection appended nothing)."""
    while True:
        try:
            return await bus.publish(kind, payload, request_id)
        except BusUnavailableError:
            await asyncio.sleep(0.05)


@dataclass
class Reference:
    """The pure engine run straight through the published entries, with no interruption."""

    engine: Engine
    bodies: dict[str, list[dict[str, Any]]]
    trades: list[ClosedTrade]
    ended: list[EndedOrder]
    ledger: list[LedgerEntry]


def reference_run(entries: list[Entry], config: EngineConfig) -> Reference:
    engine = Engine(config)
    bodies: dict[str, list[dict[str, Any]]] = {}
    trades: list[ClosedTrade] = []
    ended: list[EndedOrder] = []
    ledger: list[LedgerEntry] = []
    for entry in entries:
        assert isinstance(entry.payload, dict)
        events = apply_entry(engine, entry.kind, entry.request_id, entry.ts_us, entry.payload)
        for event, seq in zip(events, engine.event_seqs, strict=True):
            body = callback_body(event, config.instruments)
            if seq is not None:  # an account event's number in its owner's sequence
                body["seq"] = seq
            # By the body's id: an expiry answers no request and carries its order's id.
            bodies.setdefault(body["id"], []).append(body)
            if isinstance(event, PositionClosed):
                trades.append(event.trade)
            elif isinstance(event, OrderFilled | OrderCanceled | OrderExpired):
                ended.append(event.ended)
            elif isinstance(event, AccountReset | Deposited):
                ledger.append(event.entry)
    return Reference(engine, bodies, trades, ended, ledger)


HISTORY = OrderHistoryRow.__table__
LEDGER = LedgerEntryRow.__table__
ACCOUNT_EVENTS = AccountEvent.__table__


def comparable_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot with accounts as a mapping and order ids sorted (their order depends on
    the storage)."""
    return snapshot | {
        "accounts": {row[0]: tuple(row[1:]) for row in snapshot["accounts"]},
        "orderIds": sorted(snapshot["orderIds"]),
    }


def reference_snapshot(reference: Reference) -> dict[str, Any]:
    return comparable_snapshot(orjson.loads(orjson.dumps(take_snapshot(reference.engine))))


def without_entry_ids(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in body.items() if k != "entryId"} for body in bodies]


async def verify_against_reference(
    published: list[Entry],
    replies: dict[str, list[dict[str, Any]]],
    database_url: str,
    config: EngineConfig,
) -> None:
    """The interrupted run must equal the straight one: replies, saved state, trades."""
    reference = reference_run(published, config)

    # Every request got exactly the reply the uninterrupted run gives, once.
    assert set(replies) == set(reference.bodies)
    for request_id, bodies in reference.bodies.items():
        assert without_entry_ids(replies[request_id]) == bodies, request_id

    trades = ExistingTrade.__table__
    database = open_database(database_url)
    try:
        loaded = await SnapshotStore(database).load()
        assert loaded is not None
        snapshot, last_entry_id = loaded
        assert last_entry_id == published[-1].entry_id
        assert comparable_snapshot(snapshot) == reference_snapshot(reference)
        async with database.connect() as connection:
            columns = (trades.c.id, trades.c.pnl, trades.c.close_price, trades.c.reason,
                       trades.c.liquidated, trades.c.commission, trades.c.quantity)  # fmt: skip
            rows = (await connection.execute(select(*columns))).all()
            ended_rows = (await connection.execute(select(HISTORY.c.id, HISTORY.c.status))).all()
            ledger_rows = (
                await connection.execute(
                    select(LEDGER.c.id, LEDGER.c.kind, LEDGER.c.amount, LEDGER.c.balance_after)
                )
            ).all()
            logged = (
                await connection.execute(
                    select(ACCOUNT_EVENTS.c.user_id, ACCOUNT_EVENTS.c.seq, ACCOUNT_EVENTS.c.kind)
                )
            ).all()
    finally:
        await database.dispose()
    stored = {
        row.id: (row.pnl, row.close_price, row.reason, row.liquidated, row.commission, row.quantity)
        for row in rows
    }
    history = {row.id: row.status for row in ended_rows}
    # Every deposit and reset applied, recorded once with what it moved.
    assert {row.id: tuple(row[1:]) for row in ledger_rows} == {
        entry.id: (entry.kind, entry.amount, entry.balance_after) for entry in reference.ledger
    }
    # Every account event is in the log once, with the number the uninterrupted run gave it.
    numbered = sorted(
        (body["userId"], body["seq"], body["status"])
        for bodies in reference.bodies.values()
        for body in bodies
        if "seq" in body
    )
    assert sorted((row.user_id, row.seq, row.kind) for row in logged) == numbered
    expected = {
        trade.id: (
            trade.pnl,
            trade.close_price,
            trade.reason.value,
            trade.liquidated,
            trade.commission,
            trade.position.qty,
        )
        for trade in reference.trades
    }
    assert stored == expected

    # Every order acknowledged as created is open or closed: none vanished.
    created = {
        body["order"]["orderId"]
        for bodies in replies.values()
        for body in bodies
        if body["status"] == "created"
    }
    open_ids = {row[1] for row in snapshot["positions"]}
    assert created and created <= open_ids | set(stored)

    # Every order acknowledged as placed is still pending or has ended, with its history row.
    placed = {
        body["order"]["orderId"]
        for bodies in replies.values()
        for body in bodies
        if body["status"] == "placed"
    }
    pending_ids = {row[1] for row in snapshot.get("pendingOrders", ())}
    assert placed <= pending_ids | set(history)
    expected_history = {ended.order.order_id: ended.status.value for ended in reference.ended}
    assert history == expected_history
    assert len(reference.trades) > 100 and len(open_ids) > 10  # the workload was busy
