"""The whole stack as real processes, for the browser: api, engine, ws and poller.

The poller reads quotes from ``FakeBackpack`` (``tests.support.fakes.backpack``), which runs
on an event loop in a background thread, so a synchronous test (Playwright's sync API) moves
the market with ``stack.quote(...)`` and watches the page follow. Like a real exchange, the fake
repeats each asset's current quote every second, so prices never go stale while a slow
machine runs the test. The services run on the test's Redis namespace and PostgreSQL
database, in ``dev`` with no SMTP: the API logs sign-in links, as a developer sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.fakes.backpack import FakeBackpack
from tests.support.servers import free_port
from tradepro.bus.factory import open_bus
from tradepro.db.migrate import upgrade

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
JWT_SECRET = "e2e-tests-jwt-secret-0123456789abcdef0123456789"  # noqa: S105 (a test secret)
MAX_PRICE_AGE_S = 4
"""Orders need a quote at most this old; the page marks prices stale after it too."""
START_TIMEOUT_S = 60.0
REPEAT_S = 1.0
_T = TypeVar("_T")


def wait_until(condition: Callable[[], _T], timeout_s: float = 15.0, what: str = "") -> _T:
    """Poll ``condition`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or condition}")
        time.sleep(0.05)


class BackgroundLoop:
    """An event loop on its own thread; ``call`` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="e2e-loop", daemon=True)
        self.thread.start()

    def call(self, coroutine: Coroutine[Any, Any, _T], timeout_s: float = 30.0) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Service:
    """One ``tradepro <command>`` child process with its log in a file."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tradepro.cli", *argv],
                env=dict(env),
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
            )

    def terminate(self) -> None:
        """Ask it to drain and stop (SIGTERM), without waiting."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def service_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """The test's environment without any TradePro setting, plus ``overrides``: the
    services see exactly what the test chose."""
    names = {
        "DATABASE_URL", "REDIS_URL", "JWT_SECRET", "WS_PORT", "API_PORT", "BACKPACK_WS_URL",
        "ASSETS", "SMTP_URL", "PUBLIC_URL", "STARTING_BALANCE", "MAX_PRICE_AGE_S",
    }  # fmt: skip
    kept = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in names and not key.upper().startswith("TRADEPRO_")
    }
    return kept | {"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"} | dict(overrides)


class Stack:
    """api + engine + ws + poller on one bus and database, fed by a fake Backpack."""

    def __init__(self, folder: Path, redis_url: str, namespace: str, database_url: str) -> None:
        self.folder = folder
        self.redis_url = redis_url
        self.namespace = namespace
        self.api_port = free_port()
        self.ws_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.background = BackgroundLoop()
        self.backpack = FakeBackpack()
        self.services: dict[str, Service] = {}
        self.market: dict[str, tuple[str, str]] = {}
        """Each asset's current (bid, ask), repeated every ``REPEAT_S``."""
        self._repeater: asyncio.Task[None] | None = None
        self.database_url = database_url
        self.env = service_env(
            {
                "TRADEPRO_ENV": "dev",
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "TRADEPRO_BUS_NAMESPACE": namespace,
                "TRADEPRO_DATA_DIR": str(folder / "data"),
                "JWT_SECRET": JWT_SECRET,
                "API_PORT": str(self.api_port),
                "WS_PORT": str(self.ws_port),
                "PUBLIC_URL": self.base_url,
                "ASSETS": "BTC_USDC,ETH_USDC,SOL_USDC",
                "STARTING_BALANCE": "5000.00",
                "MAX_PRICE_AGE_S": str(MAX_PRICE_AGE_S),
            }
        )

    def start(self) -> None:
        self.background.call(self.backpack.start())
        self.env["BACKPACK_WS_URL"] = self.backpack.url
        # Migrate once before the services start: each would migrate too, all at once.
        self.background.call(upgrade(self.database_url), timeout_s=START_TIMEOUT_S)
        for name in ("engine", "api", "ws", "poller"):
            self.services[name] = Service(name, [name], self.env, self.folder / f"{name}.log")
        self._wait_ready()
        self._repeater = self.background.call(self._start_repeating())

    async def _start_repeating(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._repeat())

    async def _repeat(self) -> None:
        while True:
            await asyncio.sleep(REPEAT_S)
            for asset in list(self.market):
                quote = self.market.get(asset)  # now, not from before an await: never older
                if quote is not None:  # than what the test just sent
                    await self.backpack.push_quote(asset, *quote)

    def _wait_ready(self) -> None:
        def healthy(url: str) -> bool:
            for service in self.services.values():
                service.check_running()
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(url, timeout=1).status_code == 200
            return False

        wait_until(lambda: healthy(f"{self.base_url}/health"), START_TIMEOUT_S, "the api + engine")
        ws_health = f"http://127.0.0.1:{self.ws_port}/health"
        wait_until(lambda: healthy(ws_health), START_TIMEOUT_S, "the ws server")
        wait_until(lambda: self.backpack.subscribers("BTC_USDC") > 0, START_TIMEOUT_S, "the poller")

    def close(self) -> None:
        try:
            if self._repeater is not None:
                self.background.loop.call_soon_threadsafe(self._repeater.cancel)
            for service in self.services.values():  # all drain at once
                service.terminate()
            for service in self.services.values():
                service.stop()
            with contextlib.suppress(Exception):
                self.background.call(self.backpack.stop())
        finally:
            self.background.close()

    # -- what tests do ------------------------------------------------------------------

    def quote(self, asset: str, bid: str, ask: str) -> None:
        """Backpack quotes ``asset`` now and every second until the next quote: the poller
        forwards it to the engine and the ws."""
        self.market[asset] = (bid, ask)
        sent = self.background.call(self.backpack.push_quote(asset, bid, ask))
        assert sent > 0, "the poller is not connected to the fake Backpack"

    def stop_feed(self) -> None:
        """The exchange goes away: the fake Backpack drops its connections and stops
        listening, so the poller's reconnects are refused."""
        self.background.call(self.backpack.stop())

    def publish_simulated(self, asset: str, bid: str, ask: str) -> None:
        """A simulated quote straight onto the bus (as ``tradepro poller --feed sim`` sends)."""

        async def publish() -> None:
            bus = open_bus(self.redis_url, self.folder / "data", namespace=self.namespace)
            try:
                payload = {"asset": asset, "bid": bid, "ask": ask, "simulated": True}
                await bus.publish("price-update", payload, str(uuid.uuid4()))
            finally:
                await bus.close()

        self.background.call(publish())

    def restart(self, name: str) -> None:
        """Stop one service (SIGTERM, drained) and start it again on the same settings."""
        self.services[name].stop()
        log = self.folder / f"{name}.log"
        log.rename(self.folder / f"{name}-before-restart.log")
        self.services[name] = Service(name, [name], self.env, log)

    def sign_in_link(self, email: str) -> str:
        """The link the API logged for ``email`` (dev mode without SMTP)."""
        pattern = re.compile(rf"sign-in link for {re.escape(email)}: (\S+)")

        def logged() -> str | None:
            found = pattern.findall(self.services["api"].log.read_text(errors="replace"))
            return found[-1] if found else None

        link = wait_until(logged, 10, f"the sign-in link for {email} in the API log")
        return link

    def candles(self, asset: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.base_url}/api/v1/candles", params={"asset": asset})
        assert response.status_code == 200, response.text
        candles: list[dict[str, Any]] = response.json()["candles"]
        return candles

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{service.tail()}" for name, service in self.services.items()
        )
