"""The engine's configuration and the records it keeps per user and per asset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple

from tradepro.domain.instruments import DEFAULT_INSTRUMENTS, Instrument
from tradepro.domain.pending import PendingOrder
from tradepro.domain.positions import MAINTENANCE_MARGIN_BPS, Position

if TYPE_CHECKING:
    from tradepro.engine.reads import AccountReads

ORDER_ID_WINDOW_US = 25 * 3600 * 1_000_000
"""How long the engine remembers an opened order id (see ``engine.order_window``): the
API's idempotency retention (24 h) plus an hour."""
ORDER_ID_LEAD_US = 5 * 60 * 1_000_000
"""How far an order id's time may be ahead of the entry's (clocks of different hosts)."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    instruments: Mapping[str, Instrument] = field(default_factory=lambda: DEFAULT_INSTRUMENTS)
    starting_balance_cents: int = 500_000
    max_price_age_us: int = 10_000_000
    """A create or close is refused with ``stale_price`` when the last quote is older."""
    maintenance_margin_bps: int = MAINTENANCE_MARGIN_BPS
    order_id_window_us: int = ORDER_ID_WINDOW_US
    """Order ids made longer ago than this (before the latest create's entry time) are
    refused: the engine may have forgotten them. Memory holds one window's ids."""
    order_id_lead_us: int = ORDER_ID_LEAD_US
    """Order ids made further ahead of the entry's time than this are refused."""
    max_pending_per_account: int = 500
    """The most pending orders one account may hold (get-pending-orders lists them all)."""
    max_open_per_account: int = 10_000
    """The most open positions a market order may add to (pending orders that fill may
    take an account up to this plus ``max_pending_per_account``). Closing all, or a reset,
    is one command over all of them: this bounds what one command costs the loop."""
    max_paper_balance_cents: int = 100_000_000
    """The most an account may hold after a deposit (free balance and margin) or be
    reset to: 1,000,000.00 by default."""
    daily_deposit_cap_cents: int = 10_000_000
    """The most one user may deposit per UTC day of the engine's clock: 100,000.00."""


class Quote(NamedTuple):
    bid: int
    ask: int
    ts_us: int


class Account:
    """A user's cash. ``balance`` is free cash; ``locked`` the sum of open margins;
    ``reserved`` the sum of the pending orders' reservations (``orderMargin``).

    ``positions`` (order id -> open position) is built on its first use after a restore
    that handed the account its positions as a list of seqs (``index_later``): the
    restore then skips millions of scattered dict insertions, and the first command that
    touches the account pays for its own positions only (``engine.snapshot``)."""

    __slots__ = (
        "_positions",
        "_unindexed",
        "balance",
        "event_seq",
        "locked",
        "orders",
        "reads",
        "reserved",
    )

    def __init__(self, balance: int, event_seq: int = 0) -> None:
        self.balance = balance
        self.event_seq = event_seq
        """The ``seq`` of the account's last event (``engine.account_events``)."""
        self.locked = 0
        self.reserved = 0
        self._positions: dict[str, Position] = {}
        self._unindexed: tuple[Sequence[int], Mapping[int, Position]] | None = None
        """The seqs of the positions not yet in ``_positions``, and where they are."""
        self.orders: dict[str, PendingOrder] = {}
        """Pending orders by order id."""
        self.reads: AccountReads | None = None
        """Built by the account's first read (``engine.reads``), then kept by the engine."""

    @property
    def positions(self) -> dict[str, Position]:
        """The open positions by order id, in open order."""
        if self._unindexed is not None:
            self._index()
        return self._positions

    @positions.setter
    def positions(self, positions: dict[str, Position]) -> None:
        self._positions = positions
        self._unindexed = None

    @property
    def indexed(self) -> bool:
        """False until ``positions`` has been built after ``index_later``."""
        return self._unindexed is None

    def index_later(self, seqs: Sequence[int], open_by_seq: Mapping[int, Position]) -> None:
        """Hold the account's open positions as their ``seqs`` (in any order), found in
        ``open_by_seq`` when ``positions`` is first used and put in seq order, the order
        a live engine opened them in. Every change to the account's positions goes
        through ``positions``, so each seq is still open then."""
        if self._positions or self._unindexed is not None:
            raise ValueError("the account's positions are already indexed")
        if seqs:
            self._unindexed = (seqs, open_by_seq)

    def _index(self) -> None:
        assert self._unindexed is not None
        seqs, open_by_seq = self._unindexed
        positions = list(map(open_by_seq.__getitem__, sorted(seqs)))
        self._positions = dict(zip(map(_ORDER_ID, positions), positions, strict=True))
        self._unindexed = None


_ORDER_ID = itemgetter(Position._fields.index("order_id"))
