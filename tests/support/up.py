"""``tradepro up`` as a real process, driven like a user (shared by the ``up`` tests and
the single-writer attacks).

``Up`` runs ``tradepro up --feed sim`` in its own working folder (so the default data folder
``.tradepro`` lands there), on free ports, with no TradePro variable inherited from the test
run. The services' pids come from ``up``'s own lines (``engine started (pid N)``); "gone"
means no such process or a zombie.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.support.servers import free_port
from tests.support.stack import eventually

SLOW_START_S = 60.0
"""For the tests that are not about the start-up time."""
ORDER_RETRY_S = 0.2
SERVICES = ("engine", "api", "ws", "poller")
STARTED = re.compile(r"^up +\| ([\w-]+) (?:re)?started \(pid (\d+)\)$")
LINK = re.compile(r"sign-in link for (\S+): (https?://\S+/api/v1/auth/signin/verify\?token=\S+)")
JSON = {"Accept": "application/json"}
OWN_VARIABLES = {
    "DATABASE_URL", "REDIS_URL", "JWT_SECRET", "WS_PORT", "API_PORT", "BACKPACK_WS_URL",
    "ASSETS", "SMTP_URL", "PUBLIC_URL", "STARTING_BALANCE", "MAX_PRICE_AGE_S",
    "SNAPSHOT_INTERVAL_S", "LOG_LEVEL", "WS_PROCESSES", "WS_PRICE_RATE_PER_S",
}  # fmt: skip


class Up:
    """``tradepro up --feed sim`` (or ``--feed backpack`` with ``feed="backpack"``) in
    ``folder``; stdout and stderr collected line by line."""

    def __init__(
        self,
        folder: Path,
        api_port: int | None = None,
        env: dict[str, str] | None = None,
        *,
        ws_port: int | None = None,
        args: tuple[str, ...] = (),
        feed: str = "sim",
    ) -> None:
        self.folder = folder
        self.api_port = api_port or free_port()
        self.ws_port = ws_port or free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        inherited = {
            key: value
            for key, value in os.environ.items()
            if key.upper() not in OWN_VARIABLES and not key.upper().startswith("TRADEPRO_")
        }
        ports = {"API_PORT": str(self.api_port), "WS_PORT": str(self.ws_port)}
        self.started_s = time.monotonic()
        feed_args = ("--feed", "sim", "--rate", "20", "--seed", "7") if feed == "sim" else (
            "--feed", feed,
        )  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tradepro.cli", "up", *feed_args, *args],
            cwd=folder, env=inherited | ports | (env or {}),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=_collect, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=_collect, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def output(self) -> str:
        return "\n".join(self.stdout) + "\n--- stderr ---\n" + "\n".join(self.stderr)

    def pids(self, service: str) -> list[int]:
        """Every pid ``up`` started ``service`` as, in order."""
        found = (STARTED.match(line) for line in list(self.stdout))
        return [int(match[2]) for match in found if match and match[1] == service]

    def all_pids(self) -> list[int]:
        """Every pid ``up`` started, whatever the service (``ws-2`` included)."""
        found = (STARTED.match(line) for line in list(self.stdout))
        return [int(match[2]) for match in found if match]

    def lines_of(self, service: str) -> list[str]:
        return [line for line in list(self.stdout) if line.startswith(f"{service:<6} | ")]

    async def healthy(self, client: httpx.AsyncClient) -> bool:
        assert self.process.poll() is None, f"up exited early:\n{self.output}"
        try:
            return (await client.get("/health", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    def wait(self, timeout_s: float = 60.0) -> int:
        code = self.process.wait(timeout_s)
        for reader in self._readers:
            reader.join(10)
        return code

    def close(self) -> None:
        """Whatever happened, leave nothing running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for pid in self.all_pids():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def _collect(stream: Any, lines: list[str]) -> None:
    for raw in stream:
        lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def sign_in(up: Up, client: httpx.AsyncClient) -> dict[str, str]:
    """Sign up, take the link from the api's line that ``up`` forwarded, verify it."""
    email = f"trader-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post("/api/v1/auth/signup", json={"email": email})
    assert response.status_code == 200, response.text

    def link() -> str | None:
        found = (LINK.search(line) for line in up.lines_of("api"))
        return next((match[2] for match in found if match and match[1] == email), None)

    await eventually(lambda: link() is not None, 10, "the sign-in link in up's output")
    path = re.sub(r"^https?://[^/]+", "", link() or "")
    response = await client.get(path, headers=JSON)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def place_order(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    """Buy BTC once the engine has a simulated price (``no_price`` until then)."""
    order = {"asset": "BTC_USDC", "side": "buy", "qty": "0.001", "leverage": 10}
    created: dict[str, Any] = {}

    async def placed() -> bool:
        response = await client.post("/api/v1/trade/create-order", json=order, headers=auth)
        if response.status_code == 503 and response.json()["error"] in ("no_price", "stale_price"):
            await asyncio.sleep(ORDER_RETRY_S)  # the api allows 20 orders a second
            return False
        assert response.status_code == 200, response.text
        created.update(response.json())
        return True

    await eventually(placed, 30, "a simulated price in the engine")
    return created


async def open_order_ids(client: httpx.AsyncClient, auth: dict[str, str]) -> set[str]:
    response = await client.get("/api/v1/trade/get-open-orders", headers=auth)
    assert response.status_code == 200, response.text
    return {order["orderId"] for order in response.json()["orders"]}


PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def adopting_orphans() -> Iterator[list[int]]:
    """Inside, this process adopts the orphans of its descendants, as ``init`` or a
    supervisor such as systemd does (Linux only). The pids added to the list it yields are
    killed if still running, and reaped, on the way out.

    Why: in some containers the process 1 that would adopt them signals them again, and a
    second signal makes a service abort instead of draining; a test about draining needs
    the ordinary ``init`` behaviour."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "PR_SET_CHILD_SUBREAPER"
    orphans: list[int] = []
    try:
        yield orphans
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):  # not adopted after all
                os.waitpid(pid, 0)
