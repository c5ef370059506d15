"""Run a service until SIGTERM/SIGINT, then let it drain and exit 0."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

log = logging.getLogger("tradepro")


def configure_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else "INFO",
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_service(name: str, main: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run ``main(stop)``; the first SIGTERM/SIGINT sets ``stop``, a second one aborts."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            if stop.is_set():
                log.warning("%s: second %s, aborting", name, signal.Signals(signum).name)
                os._exit(130)
            log.info("%s: %s received, draining", name, signal.Signals(signum).name)
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        await main(stop)

    configure_logging()
    asyncio.run(runner())
    log.info("%s stopped", name)
    return 0
