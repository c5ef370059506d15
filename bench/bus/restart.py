"""Phase 3: SIGTERM with every position open, then restart until it answers
(``restart_s_1m``)."""

from __future__ import annotations

import time

from _common import say
from bus.stack import Stack, count_saved_positions, new_id


async def measure_restart(stack: Stack) -> None:
    results, engine = stack.results, stack.engine
    rss = engine.rss_mb()
    results["engine_rss_mb"] = rss
    saved_before = await count_saved_positions(stack)
    say(f"SIGTERM with {stack.open_positions:,} open positions (engine RSS {rss:,.0f} MB, "
        f"{saved_before:,} already in the database)")  # fmt: skip
    started = time.perf_counter()
    code = await engine.terminate(timeout_s=300)
    final_s = round(time.perf_counter() - started, 3)
    if code != 0:
        raise RuntimeError(f"the engine exited with {code} after SIGTERM:\n{engine.log_tail()}")
    saved = await count_saved_positions(stack)
    say(f"  exited 0 after {final_s}s; the final snapshot added {saved - saved_before:,} rows")
    if saved != stack.open_positions:
        raise RuntimeError(f"{saved:,} positions saved, {stack.open_positions:,} open")
    results["final_snapshot_s"] = final_s
    results["final_snapshot_rows"] = saved - saved_before

    wall_start = time.time()
    started = time.perf_counter()
    await engine.start(log_level="INFO")
    reply = await stack.request("register-user", {"userId": new_id()}, timeout_s=600)
    restart_s = round(time.perf_counter() - started, 3)
    if reply.get("status") != "registered":
        raise RuntimeError(f"register-user after the restart: {reply}")
    marks = engine.log_times(wall_start)
    boot = marks.get("engine starting")
    restored = marks.get("engine restored")
    if boot is not None and restored is not None:
        results["restart_boot_s"] = round(boot - wall_start, 3)
        results["restart_restore_s"] = round(restored - boot, 3)
    process = engine.psutil_process()
    if process is not None:  # the engine's own CPU (the database's runs beside it)
        times = process.cpu_times()
        results["restart_engine_cpu_s"] = round(times.user + times.system, 3)
    results["engine_rss_mb_restarted"] = engine.rss_mb()
    say(f"  restarted: answered after {restart_s}s (boot {results.get('restart_boot_s')}s, "
        f"load+restore {results.get('restart_restore_s')}s, engine CPU "
        f"{results.get('restart_engine_cpu_s')}s), "
        f"RSS {results['engine_rss_mb_restarted']:,.0f} MB")  # fmt: skip

    assert stack.kept_order is not None
    order_id, payload = stack.kept_order
    check = await stack.request("create-order", payload, request_id=order_id)
    if check.get("status") != "duplicate_request":
        raise RuntimeError(f"an order open before the restart is not open after it: {check}")
    results["restart_s_1m"] = restart_s
