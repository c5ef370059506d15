"""The garbage collector's policy for long-running services: freeze what start-up made,
and make full collections on a schedule (or not at all) instead of whenever the collector
decides."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Iterator

NO_FULL_COLLECTIONS = 1 << 30
"""A third GC threshold that is never reached: no automatic full collections."""


@contextlib.contextmanager
def no_automatic_full_collections() -> Iterator[None]:
    """The collector makes no full passes of its own inside; young generations are still
    collected. The thresholds are restored on the way out."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], NO_FULL_COLLECTIONS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def settle_heap() -> None:
    """Take what start-up made (modules, the app, its models) out of the collector's scans.

    A full collection walks every object the process holds; in the API under load that was
    45-86 ms in which no request moved. Start-up objects live as long as the process, so
    they are frozen; what a service allocates afterwards is collected as usual."""
    gc.collect()
    gc.freeze()


FULL_COLLECTION_INTERVAL_S = 60.0


async def collect_on_schedule(interval_s: float = FULL_COLLECTION_INTERVAL_S) -> None:
    """Full collections once per ``interval_s`` instead of whenever the collector decides.

    Under load, requests in flight outlive young collections and are counted into the
    oldest generation, which then triggered a full pass (5-10 ms with every request waiting)
    every few seconds, though they are freed by reference counting. Cycles still get freed,
    by this pass. Runs until cancelled, then restores the thresholds."""
    with no_automatic_full_collections():
        while True:
            await asyncio.sleep(interval_s)
            gc.collect()
