"""A small TradePro trading bot: an API key, a few orders, and an event stream that misses
nothing across a reconnect.

It opens and closes a few small positions (market orders, so on the simulated feed of
``tradepro up --feed sim`` as on live prices), follows its own order events over the
WebSocket, cuts its connection on purpose halfway, trades while disconnected, and
reconnects with ``since``: the server replays what it missed, in order, then goes live.
It checks that every event's ``seq`` follows the previous one and that it saw the fill
(``created``) and the close of each of its orders, and exits 0 if so (1 if not).

    export TRADEPRO_API_KEY=tpk_...            # a key with the scopes read and trade
    export TRADEPRO_API_URL=http://localhost:4000
    export TRADEPRO_WS_URL=ws://localhost:8080
    python examples/trading_bot.py

Optional: ``BOT_ASSET`` (BTC_USDC), ``BOT_QTY`` (0.001), ``BOT_ROUNDS`` (4),
``BOT_TIMEOUT_S`` (30).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

log = logging.getLogger("bot")


class EventStream:
    """The bot's own order events, read from the WebSocket, checked to follow each other."""

    def __init__(self, ws_url: str, key: str) -> None:
        self.ws_url = ws_url
        self.key = key
        self.last_seq = 0
        self.seen: dict[str, set[str]] = {}
        """order id -> the events seen for it (``created``, ``closed``, ...)."""
        self.missed: set[str] = set()
        """Orders traded while disconnected: their events come from the replay."""
        self.replayed = 0
        self.gaps = 0
        self._connection: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def connect(self) -> None:
        """Connect, sign in with the key, and follow ``orders`` after ``last_seq``."""
        self._connection = await connect(self.ws_url)
        await self._send({"type": "auth", "token": self.key})
        await self._send({"type": "subscribe", "channels": ["orders"], "since": self.last_seq})
        log.info("following order events after seq %d", self.last_seq)
        self._reader = asyncio.create_task(self._read(self._connection))

    async def disconnect(self) -> None:
        """Drop the connection (as a network cut would)."""
        if self._connection is not None:
            await self._connection.close()
        if self._reader is not None:
            await self._reader
        log.info("disconnected after seq %d", self.last_seq)

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._connection is not None
        await self._connection.send(json.dumps(message))

    async def _read(self, connection: ClientConnection) -> None:
        async for raw in connection:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "error":
                log.error("server error: %s: %s", message["error"], message["message"])
                continue
            if kind not in ("order", "account"):  # account: a deposit or a reset
                continue
            seq = message["seq"]
            if seq != self.last_seq + 1:
                self.gaps += 1
                log.error("seq %d after %d: an event is missing or repeated", seq, self.last_seq)
            self.last_seq = seq
            if kind == "account":
                log.info("event seq %d: %s, balance %s", seq, message["event"], message["balance"])
                continue
            order_id = message["order"]["orderId"]
            self.seen.setdefault(order_id, set()).add(message["event"])
            if order_id in self.missed:
                self.replayed += 1
                log.info("replayed seq %d: %s %s", seq, message["event"], order_id)
            else:
                log.info("event seq %d: %s %s", seq, message["event"], order_id)
            self._changed.set()

    async def wait_for(self, order_id: str, event: str, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while event not in self.seen.get(order_id, set()):
                self._changed.clear()
                await self._changed.wait()


class Bot:
    def __init__(self, api_url: str, ws_url: str, key: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=api_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        self.events = EventStream(ws_url, key)
        self.asset = os.environ.get("BOT_ASSET", "BTC_USDC")
        self.qty = os.environ.get("BOT_QTY", "0.001")
        self.timeout_s = float(os.environ.get("BOT_TIMEOUT_S", "30"))
        self.orders: list[str] = []

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST, and when the key's order limit is reached (429 ``rate_limited``: nothing
        was done, so sending it again is safe) wait as long as ``Retry-After`` says."""
        async with asyncio.timeout(self.timeout_s):
            while True:
                response = await self.http.post(path, json=body, headers=headers)
                if response.status_code != 429:
                    return response
                wait_s = float(response.headers.get("Retry-After", "1"))
                log.info("%s; waiting %g s", response.json()["message"], wait_s)
                await asyncio.sleep(wait_s)

    async def open(self) -> str:
        """A market buy; retried while the engine has no fresh price yet (``no_price``)."""
        order = {"asset": self.asset, "side": "buy", "qty": self.qty, "leverage": 5}
        async with asyncio.timeout(self.timeout_s):
            while True:
                retry_safe = {"Idempotency-Key": str(uuid.uuid4())}
                response = await self.post("/trade/create-order", order, retry_safe)
                if response.status_code == 503 and response.json()["error"] in (
                    "no_price",
                    "stale_price",
                ):
                    await asyncio.sleep(0.5)
                    continue
                response.raise_for_status()
                body = response.json()
                log.info("opened %s at %s", body["orderId"], body["openPrice"])
                self.orders.append(body["orderId"])
                return str(body["orderId"])

    async def close(self, order_id: str) -> None:
        response = await self.post("/trade/close-order", {"orderId": order_id})
        response.raise_for_status()
        body = response.json()
        log.info("closed %s at %s (pnl %s)", order_id, body["closePrice"], body["pnl"])

    async def round_trip(self, *, watching: bool) -> None:
        order_id = await self.open()
        if watching:
            await self.events.wait_for(order_id, "created", self.timeout_s)
        await self.close(order_id)
        if watching:
            await self.events.wait_for(order_id, "closed", self.timeout_s)

    async def run(self, rounds: int) -> bool:
        balance = (await self.http.get("/balance/me")).raise_for_status().json()
        log.info("balance %s, equity %s", balance["balance"], balance["equity"])
        self.events.last_seq = await self.latest_seq()
        await self.events.connect()
        for _ in range(rounds // 2):
            await self.round_trip(watching=True)
        await self.events.disconnect()
        away = [await self.open() for _ in range(rounds - rounds // 2)]
        for order_id in away:
            await self.close(order_id)
        self.events.missed = set(away)
        await self.events.connect()
        for order_id in away:
            await self.events.wait_for(order_id, "closed", self.timeout_s)
        await self.round_trip(watching=True)  # and live events after the replay
        await self.events.disconnect()
        await self.http.aclose()
        return self.report()

    async def latest_seq(self) -> int:
        """Where the stream stands now: follow ``nextCursor`` to the newest event."""
        since = 0
        while True:
            response = await self.http.get("/account/events", params={"since": since, "limit": 500})
            page = response.raise_for_status().json()
            if page["events"]:
                since = page["events"][-1]["seq"]
            if page["nextCursor"] is None:
                return since

    def report(self) -> bool:
        seen = self.events.seen
        fills = sum("created" in seen.get(order_id, ()) for order_id in self.orders)
        closes = sum("closed" in seen.get(order_id, ()) for order_id in self.orders)
        log.info(
            "done: %d orders, %d fills and %d closes seen (%d replayed after the reconnect), "
            "last seq %d, %d gaps",
            len(self.orders), fills, closes, self.events.replayed, self.events.last_seq,
            self.events.gaps,
        )  # fmt: skip
        return fills == closes == len(self.orders) and self.events.gaps == 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    key = os.environ.get("TRADEPRO_API_KEY", "")
    if not key.startswith("tpk_"):
        log.error("set TRADEPRO_API_KEY to an API key (tpk_...) with the scopes read and trade")
        return 2
    bot = Bot(
        os.environ.get("TRADEPRO_API_URL", "http://localhost:4000"),
        os.environ.get("TRADEPRO_WS_URL", "ws://localhost:8080"),
        key,
    )
    ok = asyncio.run(bot.run(int(os.environ.get("BOT_ROUNDS", "4"))))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
