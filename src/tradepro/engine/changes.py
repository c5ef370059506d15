"""What changed since the last export: the unit of incremental persistence.

The engine notes each change on its hot path (one dict write); ``drain`` hands the
accumulated set over in a stable order and starts a new one. A position opened and
closed within one window appears only as a closed trade.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from tradepro.domain.events import ClosedTrade
from tradepro.domain.positions import Position


class ChangeSet(NamedTuple):
    balances: list[tuple[str, int]]
    """(user id, free balance) of every account touched, in first-touched order."""
    opened: list[Position]
    """Positions opened in the window and still open at its end, in open order."""
    closed: list[ClosedTrade]
    """Trades closed in the window, in close order."""

    def __bool__(self) -> bool:
        return bool(self.balances or self.opened or self.closed)


class ChangeLog:
    __slots__ = ("_accounts", "_closed", "_opened")

    def __init__(self) -> None:
        self._accounts: dict[str, None] = {}
        self._opened: dict[int, Position] = {}
        self._closed: list[ClosedTrade] = []

    def account(self, user_id: str) -> None:
        self._accounts[user_id] = None

    def opened(self, position: Position) -> None:
        self._accounts[position.user_id] = None
        self._opened[position.seq] = position

    def closed(self, trade: ClosedTrade) -> None:
        position = trade.position
        self._accounts[position.user_id] = None
        self._opened.pop(position.seq, None)
        self._closed.append(trade)

    def drain(self, balance_of: Callable[[str], int]) -> ChangeSet:
        """Return the window's changes with current balances, and start a new window."""
        changes = ChangeSet(
            [(user_id, balance_of(user_id)) for user_id in self._accounts],
            list(self._opened.values()),
            self._closed,
        )
        self._accounts = {}
        self._opened = {}
        self._closed = []
        return changes
