"""``restore_s`` and the memory of a restored engine, the way the engine service restores.

The parent writes its engine's snapshot as lines of JSON: the header, the accounts, the
open positions in chunks of ``CHUNK`` positions, each chunk column-wise (one list per
``Position`` field, as the service's position reader hands them over), then the window's
ids of closed positions in chunks (what the database holds, in the order
``SnapshotStore.restore`` reads it). A fresh process (this module run as a script) feeds
the lines to a ``Restorer`` one chunk at a time (``add_position_columns``), as the service
feeds the chunks it reads, with the garbage collector off as in the service's recovery.
It prints, as its last line, the restore's wall and CPU time, its RSS before and after
(``gc.collect()`` before each reading) and a digest of the restored engine's snapshot
(order ids sorted: the window's order differs and nothing depends on it), which the
parent compares with its own.
"""

from __future__ import annotations

import gc
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from time import perf_counter, process_time
from typing import Any, NamedTuple

import orjson
import psutil

from tradepro.engine.core import Engine, EngineConfig
from tradepro.engine.snapshot import Restorer, take_snapshot

CHUNK = 10_000
"""Positions or ids per line, as ``READ_CHUNK_ROWS`` per database read."""
_BULK = ("accounts", "positions", "orderIds", "pendingOrders")


class Restored(NamedTuple):
    wall_s: float
    cpu_s: float
    rss_before: int
    rss_after: int


def rss_after_collect() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def digest(engine: Engine) -> str:
    snapshot = take_snapshot(engine)
    snapshot["orderIds"].sort()
    return hashlib.sha256(orjson.dumps(snapshot)).hexdigest()


def write_snapshot(engine: Engine, path: Path) -> int:
    """Write ``engine``'s snapshot as chunked lines; return the bytes written."""
    snapshot = take_snapshot(engine)
    open_ids = {position.order_id for position in engine.open_by_seq.values()}
    open_ids |= {order.order_id for order in engine.pending_by_seq.values()}
    closed_ids = [order_id for order_id in snapshot["orderIds"] if order_id not in open_ids]
    header = {key: value for key, value in snapshot.items() if key not in _BULK}
    positions = snapshot["positions"]
    with path.open("wb") as out:
        out.write(orjson.dumps(["header", header]) + b"\n")
        out.write(orjson.dumps(["accounts", snapshot["accounts"]]) + b"\n")
        for start in range(0, len(positions), CHUNK):
            columns = list(zip(*positions[start : start + CHUNK], strict=True))
            out.write(orjson.dumps(["positions", columns]) + b"\n")
        for start in range(0, len(closed_ids), CHUNK):
            out.write(orjson.dumps(["orderIds", closed_ids[start : start + CHUNK]]) + b"\n")
        pending = snapshot["pendingOrders"]
        for start in range(0, len(pending), CHUNK):
            out.write(orjson.dumps(["pendingOrders", pending[start : start + CHUNK]]) + b"\n")
        return out.tell()


def restore_in_fresh_process(path: Path, config: EngineConfig) -> tuple[Restored, str]:
    """Run this module on ``path``; return what it measured and its engine's digest."""
    settings = {"starting_balance_cents": config.starting_balance_cents}
    completed = subprocess.run(
        [sys.executable, __file__, str(path), json.dumps(settings)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(completed.stdout.splitlines()[-1])
    return Restored(*result["restored"]), result["digest"]


def restore(path: Path, config: EngineConfig) -> tuple[Engine, Restored]:
    gc.disable()
    rss_before = rss_after_collect()
    cpu_start, start = process_time(), perf_counter()
    with path.open("rb") as lines:
        kind, header = orjson.loads(lines.readline())
        restorer = Restorer(header, config)
        add: dict[str, Any] = {
            "accounts": restorer.add_accounts,
            "positions": restorer.add_position_columns,
            "orderIds": restorer.add_order_ids,
            "pendingOrders": restorer.add_pending_orders,
        }
        for line in lines:
            kind, rows = orjson.loads(line)
            add[kind](rows)
        engine = restorer.finish()
    wall_s, cpu_s = perf_counter() - start, process_time() - cpu_start
    return engine, Restored(wall_s, cpu_s, rss_before, rss_after_collect())


def main() -> None:
    path, settings = Path(sys.argv[1]), json.loads(sys.argv[2])
    engine, restored = restore(path, EngineConfig(**settings))
    print(json.dumps({"restored": list(restored), "digest": digest(engine)}), flush=True)


if __name__ == "__main__":
    main()
