"""The engine's configuration and the records it keeps per user and per asset."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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


class Quote(NamedTuple):
    bid: int
    ask: int
    ts_us: int


class Account:
    """A user's cash. ``balance`` is free cash; ``locked`` the sum of open margins;
    ``reserved`` the sum of the pending orders' reservations (``orderMargin``)."""

    __slots__ = ("balance", "locked", "orders", "positions", "reads", "reserved")

    def __init__(self, balance: int) -> None:
        self.balance = balance
        self.locked = 0
        self.reserved = 0
        self.positions: dict[str, Position] = {}
        self.orders: dict[str, PendingOrder] = {}
        """Pending orders by order id."""
        self.reads: AccountReads | None = None
        """Built by the account's first read (``engine.reads``), then kept by the engine."""
