"""An attacker who unsubscribes and asks for a replay again and again, fast, gets one read
of the log at a time per connection: the others are refused with ``replay_running``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.ws_hub import FakePeer
from tradepro.bus.sqlite_bus import SqliteBus
from tradepro.config import Settings
from tradepro.services.ws import server as server_module
from tradepro.services.ws.clients import Client
from tradepro.services.ws.messages import Subscribe
from tradepro.services.ws.server import Gateway, GatewayOptions


async def test_one_replay_at_a_time_per_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    gate = asyncio.Event()

    async def slow_read(
        _database: object, user_id: str, since: int, limit: int
    ) -> list[tuple[int, str]]:
        reads.append(since)
        await gate.wait()
        return []

    monkeypatch.setattr(server_module, "read_events", slow_read)
    bus = SqliteBus(tmp_path / "bus.db")
    database = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    gateway = Gateway(Settings(_env_file=None), bus, GatewayOptions(), database)  # type: ignore[call-arg]
    peer = FakePeer()
    client = Client(peer, 64, gateway.hub.latest_prices)
    client.user_id = "alice"
    gateway.hub.join(client)
    writer = asyncio.create_task(client.write_forever())
    try:
        for _ in range(5):
            gateway._subscribe(client, Subscribe(frozenset({"orders"}), since=0))
            await asyncio.sleep(0)  # a read of the log starts (and waits)
            gateway.hub.unsubscribe(client, ["orders"])
        await asyncio.sleep(0.01)
        assert reads == [0]  # one read runs; the four others were refused
        errors = [m for m in peer.messages() if m["type"] == "error"]
        assert [e["error"] for e in errors] == ["replay_running"] * 4
        gate.set()
        await asyncio.sleep(0.01)
        gateway._subscribe(client, Subscribe(frozenset({"orders"}), since=0))  # done: allowed
        await asyncio.sleep(0.01)
        assert reads == [0, 0]
    finally:
        writer.cancel()
        gate.set()
        await gateway.close()
        await bus.close()
        await database.dispose()
