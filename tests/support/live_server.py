"""The engine and the API served by uvicorn on a real port, on a loop in a background thread.

For synchronous clients (Schemathesis calls over ``requests``): the test thread stays free
to block on HTTP while the engine and the app run on their own event loop.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

from tests.support.api import Stack
from tests.support.stack import eventually

_T = TypeVar("_T")
START_TIMEOUT_S = 60


class LiveServer:
    """``Stack`` (engine task + app) plus uvicorn on 127.0.0.1 with a free port."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-api", daemon=True)
        self.server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self.base_url = ""

    def call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(START_TIMEOUT_S)

    def start(self) -> None:
        self.thread.start()
        self.call(self._start())

    async def _start(self) -> None:
        await self.stack.start()  # migrations, engine task, app lifespan
        # The lifespan already ran for ``stack.app``: uvicorn must not run it a second time.
        config = uvicorn.Config(
            self.stack.app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self._serving = asyncio.create_task(self.server.serve())
        serving, server = self._serving, self.server
        await eventually(lambda: server.started or serving.done(), START_TIMEOUT_S, "uvicorn")
        if serving.done():
            serving.result()  # raises what stopped it
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        try:
            self.call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(START_TIMEOUT_S)
            self.loop.close()

    async def _stop(self) -> None:
        if self.server is not None and self._serving is not None:
            self.server.should_exit = True
            await self._serving
        await self.stack.close()

    def publish_price(self, asset: str, bid: str, ask: str) -> None:
        payload = {"asset": asset, "bid": bid, "ask": ask}
        self.call(self.stack.context.bus.publish("price-update", payload, str(uuid.uuid4())))
