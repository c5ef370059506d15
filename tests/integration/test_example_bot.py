"""``examples/trading_bot.py`` against the real platform (``tradepro up --feed sim``): with
an API key made through a session, it trades, drops its WebSocket on purpose, trades while
away, reconnects with ``since`` and must see every fill and close, in seq order, exit 0."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.stack import eventually
from tests.support.up import Up, sign_in

pytestmark = pytest.mark.integration

BOT = Path(__file__).resolve().parents[2] / "examples" / "trading_bot.py"
ROUNDS = 4


@pytest.fixture(params=["embedded", "redis-postgres"])
def servers(request: pytest.FixtureRequest) -> dict[str, str]:
    """No variable: the embedded default; else this test's Redis namespace and database."""
    if request.param == "embedded":
        return {}
    return {
        "REDIS_URL": request.getfixturevalue("redis_url"),
        "TRADEPRO_BUS_NAMESPACE": request.getfixturevalue("bus_namespace"),
        "DATABASE_URL": request.getfixturevalue("postgres_url"),
    }


async def test_the_example_bot_trades_reconnects_and_misses_nothing(
    tmp_path: Path, servers: dict[str, str]
) -> None:
    up = Up(tmp_path, env=servers)
    try:
        async with httpx.AsyncClient(base_url=up.base_url) as client:
            await eventually(lambda: up.healthy(client), 60, "/health")
            session = await sign_in(up, client)
            made = await client.post(
                "/api/v1/auth/api-keys",
                json={"name": "example bot", "scopes": ["read", "trade"]},
                headers=session,
            )
            assert made.status_code == 201, made.text
            key = made.json()["key"]
        env = {
            "PATH": os.environ.get("PATH", ""),
            "TRADEPRO_API_KEY": key,
            "TRADEPRO_API_URL": up.base_url,
            "TRADEPRO_WS_URL": f"ws://127.0.0.1:{up.ws_port}",
            "BOT_ROUNDS": str(ROUNDS),
            "BOT_TIMEOUT_S": "60",
        }
        bot = await asyncio.create_subprocess_exec(
            sys.executable, str(BOT), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(bot.communicate(), 180)
        log = output.decode()
        print(log)
        assert bot.returncode == 0, log + "\n--- tradepro up ---\n" + up.output[-4000:]
        done = re.search(
            r"done: (\d+) orders, (\d+) fills and (\d+) closes seen \((\d+) replayed", log
        )
        assert done is not None, log
        orders, fills, closes, replayed = map(int, done.groups())
        assert orders == fills == closes == ROUNDS + 1, log  # and one more after the reconnect
        assert replayed == 2 * (ROUNDS - ROUNDS // 2), log  # the opens and closes made away
        assert "0 gaps" in log
        assert key not in log  # the key never ends up in the bot's log
    finally:
        up.close()
