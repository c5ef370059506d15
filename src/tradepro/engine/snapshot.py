"""Whole-engine snapshots as plain JSON-ready data, and restore from them.

The snapshot holds only state that matters to future outputs: accounts, open positions,
last quotes, counters. Trigger books are rebuilt from the positions (``heapify`` is O(n)),
locked margin is recomputed from them, and the instrument table is checked to be the one
the positions were scaled with.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import Side
from tradepro.domain.positions import Position, stop_level
from tradepro.engine.books import SEQ_BITS
from tradepro.engine.core import Account, Engine, EngineConfig, Quote
from tradepro.engine.order_window import OrderIdWindow

SNAPSHOT_VERSION = 2
"""Version 2 added the order id window; a version 1 snapshot (from before time-ordered
order ids) restores with an empty window, since none of its ids is of that form."""
_READABLE_VERSIONS = (1, SNAPSHOT_VERSION)
_SIDES = {side.value: side for side in Side}


class SnapshotError(ValueError):
    """The snapshot cannot be restored under this configuration."""


def take_snapshot(engine: Engine) -> dict[str, Any]:
    """The engine's whole state as JSON-ready lists, ints and strings (deterministic)."""
    return snapshot_header(engine) | {
        "accounts": [[user_id, a.balance] for user_id, a in engine.accounts.items()],
        "positions": [position[:] for position in engine.open_by_seq.values()],
        "orderIds": list(engine.order_ids.ids()),
    }


def snapshot_header(engine: Engine) -> dict[str, Any]:
    """The snapshot without accounts, positions and order ids: what an incremental save
    writes whole (the others are saved row by row)."""
    return {
        "version": SNAPSHOT_VERSION,
        "instruments": _instrument_rows(engine.config.instruments),
        "maintenanceMarginBps": engine.config.maintenance_margin_bps,
        "nextSeq": engine.next_seq,
        "houseCents": engine.house_cents,
        "depositsCents": engine.deposits_cents,
        "quotes": [[asset, *quote] for asset, quote in engine.quotes.items()],
        "orderIdHorizonMs": engine.order_ids.horizon_ms,
    }


def restore_snapshot(data: Mapping[str, Any], config: EngineConfig | None = None) -> Engine:
    """Rebuild an engine from ``take_snapshot`` output under ``config``."""
    engine = Engine(config)
    if data.get("version") not in _READABLE_VERSIONS:
        raise SnapshotError(f"unsupported snapshot version {data.get('version')!r}")
    expected = _instrument_rows(engine.config.instruments)
    if [list(row) for row in data["instruments"]] != [list(row) for row in expected]:
        raise SnapshotError("the snapshot was taken with a different instrument table")
    if data["maintenanceMarginBps"] != engine.config.maintenance_margin_bps:
        raise SnapshotError("the snapshot was taken with a different maintenance margin")
    engine.next_seq = data["nextSeq"]
    engine.house_cents = data["houseCents"]
    engine.deposits_cents = data["depositsCents"]
    accounts = engine.accounts
    for user_id, balance in data["accounts"]:
        accounts[user_id] = Account(balance)
    engine.quotes = {row[0]: Quote(row[1], row[2], row[3]) for row in data["quotes"]}
    engine.order_ids = OrderIdWindow.restore(
        data.get("orderIdHorizonMs", 0), data.get("orderIds", ())
    )
    # Millions of new objects and no cycles among them: a collection pass would only cost.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _restore_positions(engine, data["positions"])
    finally:
        if collecting:
            gc.enable()
    return engine


def _restore_positions(engine: Engine, rows: list[list[Any]]) -> None:
    """Rebuild positions, locked margin and trigger books: one pass, then O(n) heapify."""
    accounts = engine.accounts
    open_by_seq = engine.open_by_seq
    new_tuple = tuple.__new__
    sides = _SIDES
    # (take-profit keys, stop keys) per (asset, side), loaded into the heaps at the end
    keys = {(asset, side): ([], []) for asset in engine.books for side in Side}  # type: dict[tuple[str, Side], tuple[list[int], list[int]]]
    for row in rows:
        side = sides[row[4]]
        position: Position = new_tuple(Position, (*row[:4], side, *row[5:]))
        account = accounts[position.user_id]
        account.positions[position.order_id] = position
        account.locked += position.margin
        seq = position.seq
        open_by_seq[seq] = position
        profit_keys, stop_keys = keys[position.asset, side]
        if position.take_profit is not None:
            profit_keys.append((position.take_profit << SEQ_BITS) | seq)
        stop_keys.append((stop_level(position) << SEQ_BITS) | seq)
    for (asset, side), (profit_keys, stop_keys) in keys.items():
        profit, stop = engine.books[asset].by_side[side]
        profit.load(profit_keys)
        stop.load(stop_keys)


def _instrument_rows(instruments: Mapping[str, Instrument]) -> list[list[Any]]:
    return [list(instruments[symbol]) for symbol in sorted(instruments)]
