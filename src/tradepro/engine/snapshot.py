"""Whole-engine snapshots as plain JSON-ready data, and restore from them.

The snapshot holds only state that matters to future outputs: accounts, open positions,
last quotes, counters, the order id window. Trigger books are rebuilt from the positions
(``heapify`` is O(n)), locked margin is recomputed from them, and the instrument table is
checked to be the one the positions were scaled with. ``Restorer`` takes the same snapshot
in parts, so a store can stream it in chunks.

Each account's positions arrive either one by one with the positions (``add_positions``:
each is put in its account's dict as it comes) or grouped, as the account's list of seqs
and its locked margin (``add_account_positions``, what a database answers with one
``GROUP BY``): the account's dict is then built on its first use (``Account.index_later``),
so a restore of millions of positions skips millions of scattered dict insertions, and a
command pays at most once for the positions of the account it touches.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import OrderType, Side
from tradepro.domain.pending import PendingOrder
from tradepro.domain.positions import Position
from tradepro.engine.books import SEQ_BITS
from tradepro.engine.core import Account, Engine, EngineConfig, Quote
from tradepro.engine.order_window import OrderIdWindow

SNAPSHOT_VERSION = 4
"""Version 2 added the order id window; a version 1 snapshot (from before time-ordered
order ids) restores with an empty window, since none of its ids is of that form. Version 3
added pending orders; a version 1 or 2 snapshot has none. Version 4 added each position's
trailing stop and commission (two more position fields) and the trailing stops' running
extremes (``trailingExtremes``); older positions have neither. ``depositsToday`` (the
UTC day and what each user deposited on it) came later without a new version: a snapshot
without it restores with nothing deposited today."""
_READABLE_VERSIONS = (1, 2, 3, SNAPSHOT_VERSION)
_OLD_POSITION_FIELDS = 14
"""Fields of a position row before version 4."""


class SnapshotError(ValueError):
    """The snapshot cannot be restored under this configuration."""


def take_snapshot(engine: Engine) -> dict[str, Any]:
    """The engine's whole state as JSON-ready lists, ints and strings (deterministic)."""
    return snapshot_header(engine) | {
        "accounts": [[user_id, a.balance, a.event_seq] for user_id, a in engine.accounts.items()],
        "positions": [position[:] for position in engine.open_by_seq.values()],
        "orderIds": list(engine.order_ids.ids()),
        "pendingOrders": [order[:] for order in engine.pending_by_seq.values()],
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
        "trailingExtremes": trailing_extremes(engine),
        "depositsToday": [engine.deposit_day, [[u, c] for u, c in engine.deposited_today.items()]],
    }


def trailing_extremes(engine: Engine) -> list[list[int]]:
    """(seq, running extreme as a price in ticks) of every trailing stop: the bid's
    highest since set for a buy, the ask's lowest for a sell."""
    rows: list[list[int]] = []
    for buys, sells in engine.trailing.values():
        rows += ([seq, x] for seq, x in buys.extremes())
        rows += ([seq, -x] for seq, x in sells.extremes())
    return rows


def restore_snapshot(data: Mapping[str, Any], config: EngineConfig | None = None) -> Engine:
    """Rebuild an engine from ``take_snapshot`` output under ``config``."""
    restorer = Restorer(data, config, grouped=True)
    # Millions of new objects and no cycles among them: a collection pass would only cost.
    collecting = gc.isenabled()
    gc.disable()
    try:
        restorer.add_accounts(data["accounts"])
        restorer.add_order_ids(data.get("orderIds", ()))
        restorer.add_positions(data["positions"])
        restorer.add_account_positions(_account_positions(data["positions"]))
        restorer.add_pending_orders(data.get("pendingOrders", ()))
    finally:
        if collecting:
            gc.enable()
    return restorer.finish()


class Restorer:
    """Rebuilds an engine from a snapshot that arrives in parts: the header, then accounts,
    order ids and positions in chunks of any size (a store streams millions of rows without
    ever holding them all), then ``finish``.

    Accounts come before the positions that belong to them. With ``grouped`` the caller
    also hands each account's seqs and locked margin (``add_account_positions``, before
    ``finish``), and no position is put in its account's dict here.

    What a position shares with the
    engine is shared again: its owner's id is the account's string, its asset the
    instrument's, and its order id the window's, so a restored engine needs no more memory
    than the one that was saved (three extra strings per position were 20-25 % more).
    The caller holds the garbage collector off meanwhile (see ``restore_snapshot``).
    """

    def __init__(
        self,
        header: Mapping[str, Any],
        config: EngineConfig | None = None,
        *,
        grouped: bool = False,
    ) -> None:
        engine = self.engine = Engine(config)
        self._grouped = grouped
        self._grouped_count = 0
        """Positions handed to accounts by ``add_account_positions``."""
        if header.get("version") not in _READABLE_VERSIONS:
            raise SnapshotError(f"unsupported snapshot version {header.get('version')!r}")
        expected = _instrument_rows(engine.config.instruments)
        if [list(row) for row in header["instruments"]] != [list(row) for row in expected]:
            raise SnapshotError("the snapshot was taken with a different instrument table")
        if header["maintenanceMarginBps"] != engine.config.maintenance_margin_bps:
            raise SnapshotError("the snapshot was taken with a different maintenance margin")
        engine.next_seq = header["nextSeq"]
        engine.house_cents = header["houseCents"]
        engine.deposits_cents = header["depositsCents"]
        engine.quotes = {row[0]: Quote(row[1], row[2], row[3]) for row in header["quotes"]}
        engine.order_ids = OrderIdWindow(header.get("orderIdHorizonMs", 0))
        day, deposited = header.get("depositsToday", (-1, ()))
        engine.deposit_day = day
        engine.deposited_today = {user_id: cents for user_id, cents in deposited}
        self._position_ids: Callable[[Iterable[str]], list[str]] = (
            engine.order_ids.keep if header["version"] > 1 else list
        )
        """A version 1 snapshot's ids are not time-ordered: they belong to no window."""
        self._owner_ids: dict[str, str] = {}
        """User id -> the account's own id string (the engine's key)."""
        self._positions_of: dict[str, dict[str, Position]] = {}
        """User id -> the account's positions (one lookup per position, not two)."""
        self._books: dict[tuple[str, str], _BookKeys] = {
            (asset, side.value): _BookKeys(asset, side, [], [])
            for asset in engine.books
            for side in Side
        }
        """(asset, side's string) -> the keys of that side's books, loaded at the end."""
        self._pending_keys: dict[tuple[str, Side, OrderType], list[int]] = {
            (asset, side, order_type): []
            for asset in engine.books
            for side in Side
            for order_type in (OrderType.LIMIT, OrderType.STOP)
        }
        self._expiry_keys: list[int] = []
        self._extremes: dict[int, int] = {
            seq: extreme for seq, extreme in header.get("trailingExtremes", ())
        }
        """Seq -> running extreme (a price) of each trailing stop."""
        self._trailing: dict[tuple[str, bool], list[tuple[int, int, int]]] = {
            (asset, is_sell): [] for asset in engine.books for is_sell in (False, True)
        }
        """(asset, sell side) -> (seq, distance, extreme in the book's units) rows."""

    def book_names(self) -> list[str]:
        """The (asset, side) of every trigger book as "asset side", as a store may name
        them (assets and sides have no spaces)."""
        return [f"{asset} {side}" for asset, side in self._books]

    def add_accounts(self, rows: Iterable[Sequence[Any]]) -> None:
        """(user id, free balance, last account event seq) rows; snapshots made before
        account events have no seq (the account then starts at 0)."""
        accounts, owner_ids, positions_of = (
            self.engine.accounts,
            self._owner_ids,
            self._positions_of,
        )
        for user_id, balance, *event_seq in rows:
            account = accounts[user_id] = Account(balance, event_seq[0] if event_seq else 0)
            owner_ids[user_id] = user_id
            positions_of[user_id] = account.positions

    def add_account_positions(self, rows: Iterable[tuple[str, int, Sequence[int]]]) -> None:
        """(user id, locked margin, the seqs of its open positions in any order) of
        accounts with open positions, for a ``grouped`` restore; the positions themselves
        come by ``add_positions`` or ``add_position_columns``, before or after."""
        if not self._grouped:
            raise SnapshotError("positions grouped by account need a grouped restore")
        accounts, open_by_seq = self.engine.accounts, self.engine.open_by_seq
        count = 0
        for user_id, locked, seqs in rows:
            account = accounts.get(user_id)
            if account is None:
                raise SnapshotError(f"open positions of an unknown account {user_id!r}")
            account.locked = locked
            account.index_later(seqs, open_by_seq)
            count += len(seqs)
        self._grouped_count += count

    def add_order_ids(self, order_ids: Iterable[str]) -> None:
        """Ids of the window (those before the horizon are left out, as ever); the ids of
        open positions may be among them or not."""
        self.engine.order_ids.keep(order_ids)

    def add_positions(self, rows: Iterable[Sequence[Any]]) -> None:
        """Positions as rows of their fields (the side as its string), in open order."""
        columns = list(zip(*rows, strict=True))
        if columns:
            self.add_position_columns(columns)

    def add_position_columns(self, columns: Sequence[Sequence[Any]]) -> None:
        """Positions as one sequence per ``Position`` field (the side as its string), in
        open order: what a store that reads column-wise hands over without a row per
        position.

        The work per position is what the engine must hold anyway: the lookups, the new
        tuples and ``open_by_seq`` run as ``map``/``zip`` in C; two short Python loops are
        left, one putting each position in its account's dict, one computing its trigger
        keys. At millions of positions the first one's cost is mostly memory (each
        account's dict is somewhere else), not the interpreter.
        """
        if len(columns) == _OLD_POSITION_FIELDS:
            count = len(columns[0])
            columns = [*columns, [None] * count, [0] * count]
        (seqs, order_ids, user_ids, assets, sides, _qty, _leverage, _open_price, _margin,
         take_profits, stop_losses, liquidations, _slippage, _opened,
         trailing_stops, _commission) = columns  # fmt: skip
        order_ids = self._position_ids(order_ids)
        owners = list(map(self._owner_ids.__getitem__, user_ids))
        books = list(map(self._books.__getitem__, zip(assets, sides, strict=True)))
        shared: list[Iterable[Any]] = list(columns)
        shared[1], shared[2] = order_ids, owners
        shared[3] = map(_ASSET, books)
        shared[4] = map(_SIDE, books)
        positions = list(map(_new_tuple, repeat(Position), zip(*shared, strict=True)))
        self.engine.open_by_seq.update(zip(seqs, positions, strict=True))
        if not self._grouped:
            positions_of = self._positions_of
            for owner, order_id, position in zip(owners, order_ids, positions, strict=True):
                positions_of[owner][order_id] = position
        for book, seq, take_profit, stop_loss, liquidation in zip(
            books, seqs, take_profits, stop_losses, liquidations, strict=True
        ):
            if take_profit is not None:
                book.profit_keys.append((take_profit << SEQ_BITS) | seq)
            level = liquidation  # unless the stop-loss comes first (``stop_level``)
            if stop_loss is not None and (
                stop_loss > liquidation if book.side is _BUY else stop_loss < liquidation
            ):
                level = stop_loss
            book.stop_keys.append((level << SEQ_BITS) | seq)
        extremes = self._extremes
        for book, seq, distance in zip(books, seqs, trailing_stops, strict=True):
            if distance is not None:
                is_sell = book.side is not _BUY
                extreme = extremes[seq]
                self._trailing[book.asset, is_sell].append(
                    (seq, distance, -extreme if is_sell else extreme)
                )

    def add_pending_orders(self, rows: Iterable[Sequence[Any]]) -> None:
        """Pending orders as rows of their ``PendingOrder`` fields (side and type as their
        strings), after the accounts they belong to."""
        engine = self.engine
        owners, by_seq = self._owner_ids, engine.pending_by_seq
        for row in rows:
            (seq, order_id, user_id, asset, side, order_type, qty, leverage, price, take_profit,
             stop_loss, reserved, expires_us, created_us, *rest) = row  # fmt: skip
            trailing_stop = rest[0] if rest else None  # not in rows before version 4
            [order_id] = engine.order_ids.keep([order_id])
            order = PendingOrder(
                seq, order_id, owners[user_id], asset,
                Side(side), OrderType(order_type), qty, leverage, price, take_profit, stop_loss,
                reserved, expires_us, created_us, trailing_stop,
            )  # fmt: skip
            by_seq[seq] = order
            engine.accounts[user_id].orders[order_id] = order
            self._pending_keys[asset, order.side, order.order_type].append(
                (price << SEQ_BITS) | seq
            )
            if expires_us is not None:
                self._expiry_keys.append((expires_us << SEQ_BITS) | seq)

    def finish(self) -> Engine:
        """Sum each account's locked margin (unless ``grouped``: handed over) and reserved
        order margin, load the trigger books (O(n) heapify each) and hand the engine over.
        (A sum per account here, rather than an addition per position as they come,
        touches each account once instead of once per position.)"""
        engine = self.engine
        if self._grouped:
            if self._grouped_count != len(engine.open_by_seq):
                raise SnapshotError(
                    f"{self._grouped_count} positions grouped by account, "
                    f"{len(engine.open_by_seq)} open"
                )
        else:
            for account in engine.accounts.values():
                account.locked = sum(map(_MARGIN, account.positions.values()))
        for account in engine.accounts.values():
            if account.orders:
                account.reserved = sum(map(_RESERVED, account.orders.values()))
        for (asset, side, order_type), keys in self._pending_keys.items():
            resting = engine.pending_books[asset]
            resting.by_kind[side, order_type].load(keys)
            resting.resting += len(keys)
        engine.expiries.load(self._expiry_keys)
        for (asset, is_sell), rows in self._trailing.items():
            engine.trailing[asset][is_sell].load(rows)
        books = engine.books
        for asset, side, profit_keys, stop_keys in self._books.values():
            profit, stop = books[asset].by_side[side]
            profit.load(profit_keys)
            stop.load(stop_keys)
        self._books = {}
        return engine


def _account_positions(positions: Iterable[Sequence[Any]]) -> list[tuple[str, int, list[int]]]:
    """Snapshot position rows (in seq order) grouped by owner: what ``add_account_positions``
    takes, in the order the owners first appear."""
    seqs: dict[str, list[int]] = {}
    locked: dict[str, int] = {}
    for row in positions:
        owner, seq, margin = row[_OWNER], row[_SEQ], row[_MARGIN_FIELD]
        if owner in seqs:
            seqs[owner].append(seq)
            locked[owner] += margin
        else:
            seqs[owner] = [seq]
            locked[owner] = margin
    return [(owner, locked[owner], owner_seqs) for owner, owner_seqs in seqs.items()]


class _BookKeys(NamedTuple):
    """One asset and side: the strings positions share, and their books' keys."""

    asset: str
    side: Side
    profit_keys: list[int]
    stop_keys: list[int]


_ASSET = itemgetter(0)
_SIDE = itemgetter(1)
_SEQ, _OWNER, _MARGIN_FIELD = map(Position._fields.index, ("seq", "user_id", "margin"))
_MARGIN = itemgetter(_MARGIN_FIELD)
_RESERVED = itemgetter(PendingOrder._fields.index("reserved"))
_BUY = Side.BUY
_new_tuple = tuple.__new__


def _instrument_rows(instruments: Mapping[str, Instrument]) -> list[list[Any]]:
    """Symbol, scales and leverage cap of each instrument: what positions were made with.
    (Commission is left out: changing it only changes future trades.)"""
    return [list(instruments[symbol][:4]) for symbol in sorted(instruments)]
