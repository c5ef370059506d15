"""Helpers of the poller tests: the poller as a process, a stream reader, readiness."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.stack import EngineProcess, ServiceProcess
from tradepro.bus.base import START_ID, Bus, BusUnavailableError, Entry
from tradepro.bus.requests import Requester, RequestTimeoutError


class PollerProcess(ServiceProcess):
    """``tradepro poller`` as a child process, with its log kept for failures."""

    def __init__(self, env: Mapping[str, str], log_path: Path, args: Sequence[str]) -> None:
        super().__init__("poller", env, log_path, args)


@dataclass
class EntryCollector:
    """Reads ``engine-stream`` from the start, keeping the ``price-update`` and
    ``feed-status`` entries."""

    bus: Bus
    prices: list[Entry] = field(default_factory=list)
    feed_reports: list[Entry] = field(default_factory=list)
    last_id: str = START_ID
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def caught_up(self) -> bool:
        return not await self.bus.read_entries(self.last_id, 1, 0)

    def asks(self, asset: str, since: int = 0) -> list[str]:
        return [entry.payload["ask"] for entry in self.prices[since:]  # type: ignore[index]
                if entry.payload["asset"] == asset]  # type: ignore[index]  # fmt: skip

    async def _run(self) -> None:
        while True:
            try:
                entries = await self.bus.read_entries(self.last_id, 1000, 200)
            except BusUnavailableError:
                await asyncio.sleep(0.1)
                continue
            for entry in entries:
                self.last_id = entry.entry_id
                if entry.kind == "price-update":
                    self.prices.append(entry)
                elif entry.kind == "feed-status":
                    self.feed_reports.append(entry)


async def engine_answers(requester: Requester) -> bool:
    """True once the engine answers a ``get-account`` within a second."""
    try:
        reply = await requester.send_request_and_wait(
            "get-account", {"userId": str(uuid.uuid4())}, timeout_s=1
        )
    except (RequestTimeoutError, BusUnavailableError):
        return False
    return reply["status"] == "unknown_user"


def show_logs(*processes: PollerProcess | EngineProcess) -> None:
    """Print the services' logs: pytest shows them when the test fails."""
    for process in processes:
        if process.log_path.exists():
            text = process.log_path.read_text(errors="replace")
            print(f"--- {process.log_path.name} ---\n{text[-8000:]}")


async def requester_started(requester: Requester) -> bool:
    """Start ``requester``'s reader; False while the bus does not answer."""
    try:
        await requester.start()
    except BusUnavailableError:
        return False
    return True
