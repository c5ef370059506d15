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


def _fast_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (Linux and macOS; the API's server uses it
    too): each socket write and wake-up costs the engine less CPU than asyncio's own loop."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_service(name: str, main: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run ``main(stop)``; the first SIGTERM/SIGINT sets ``stop``, a second SIGINT aborts.

    A repeated SIGTERM never aborts the drain: the kernel can deliver the death signal of a
    killed ``tradepro up`` (``PR_SET_PDEATHSIG``) more than once (once per thread of the
    parent it passes through), and an engine that aborted then skipped its final snapshot.
    Whoever wants a service gone at once sends SIGKILL; a person presses Ctrl-C twice."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            signame = signal.Signals(signum).name
            if not stop.is_set():
                log.info("%s: %s received, draining", name, signame)
                stop.set()
            elif signum == signal.SIGINT:
                log.warning("%s: second %s, aborting", name, signame)
                os._exit(130)
            else:
                log.info("%s: %s received again, still draining", name, signame)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        await main(stop)

    configure_logging()
    with asyncio.Runner(loop_factory=_fast_loop()) as loop_runner:
        loop_runner.run(runner())
    log.info("%s stopped", name)
    return 0
