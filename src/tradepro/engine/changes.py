"""What changed since the last export: the unit of incremental persistence.

The engine notes each change on its hot path (one dict write); ``drain`` hands the
accumulated set over in a stable order and starts a new one. A position opened and
closed within one window appears only as a closed trade.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from tradepro.domain.events import ClosedTrade, EndedOrder, LedgerEntry
from tradepro.domain.pending import PendingOrder
from tradepro.domain.positions import Position


class ChangeSet(NamedTuple):
    balances: list[tuple[str, int]]
    """(user id, free balance) of every account touched, in first-touched order."""
    opened: list[Position]
    """Positions opened or changed (modified, partly closed) in the window and still open
    at its end: the latest version of each."""
    closed: list[ClosedTrade]
    """Trades closed in the window, in close order (a partial close's trade too: its
    position's row is then deleted and written again from ``opened``)."""
    placed: list[PendingOrder] = []  # noqa: RUF012 (a NamedTuple default, never mutated)
    """Pending orders placed or amended in the window and still pending at its end (the
    latest version of each)."""
    ended: list[EndedOrder] = []  # noqa: RUF012
    """Pending orders that ended in the window (filled, cancelled, expired), in order."""
    ledger: list[LedgerEntry] = []  # noqa: RUF012
    """Deposits and resets in the window, in order."""
    event_seqs: list[int] = []  # noqa: RUF012
    """The account event ``seq`` of each account in ``balances``, in the same order."""

    def __bool__(self) -> bool:
        return bool(
            self.balances or self.opened or self.closed or self.placed or self.ended or self.ledger
        )


class ChangeLog:
    __slots__ = ("_accounts", "_closed", "_ended", "_ledger", "_opened", "_placed")

    def __init__(self) -> None:
        self._accounts: dict[str, None] = {}
        self._opened: dict[str, Position] = {}
        self._closed: list[ClosedTrade] = []
        self._placed: dict[str, PendingOrder] = {}
        self._ended: list[EndedOrder] = []
        self._ledger: list[LedgerEntry] = []

    def account(self, user_id: str) -> None:
        self._accounts[user_id] = None

    def opened(self, position: Position) -> None:
        self._accounts[position.user_id] = None
        self._opened[position.order_id] = position

    def closed(self, trade: ClosedTrade) -> None:
        position = trade.position
        self._accounts[position.user_id] = None
        self._opened.pop(position.order_id, None)
        self._closed.append(trade)

    def closed_part(self, trade: ClosedTrade, remaining: Position) -> None:
        """``closed(trade)`` then ``opened(remaining)`` (a partial close) in one call."""
        self._accounts[remaining.user_id] = None
        opened = self._opened
        order_id = remaining.order_id
        opened.pop(order_id, None)
        opened[order_id] = remaining  # last, as ``opened`` would put it
        self._closed.append(trade)

    def placed(self, order: PendingOrder) -> None:
        self._accounts[order.user_id] = None
        self._placed[order.order_id] = order

    def ended(self, ended: EndedOrder) -> None:
        order = ended.order
        self._accounts[order.user_id] = None
        self._placed.pop(order.order_id, None)
        self._ended.append(ended)

    def ledger(self, entry: LedgerEntry) -> None:
        self._accounts[entry.user_id] = None
        self._ledger.append(entry)

    def drain(
        self, balance_of: Callable[[str], int], event_seq_of: Callable[[str], int] | None = None
    ) -> ChangeSet:
        """Return the window's changes with current balances (and event seqs), and start a
        new window."""
        changes = ChangeSet(
            [(user_id, balance_of(user_id)) for user_id in self._accounts],
            list(self._opened.values()),
            self._closed,
            list(self._placed.values()),
            self._ended,
            self._ledger,
            [] if event_seq_of is None else [event_seq_of(user_id) for user_id in self._accounts],
        )
        self._accounts = {}
        self._opened = {}
        self._closed = []
        self._placed = {}
        self._ended = []
        self._ledger = []
        return changes
