"""Events: what the engine did. Immutable, past tense; rejections are events too."""

from __future__ import annotations

from typing import NamedTuple

from tradepro.domain.orders import CloseReason, EndReason, OrderStatus, RejectReason
from tradepro.domain.pending import PendingOrder
from tradepro.domain.positions import Position


class UserRegistered(NamedTuple):
    request_id: str
    user_id: str
    balance: int
    created: bool
    """False when the user already existed (nothing was deposited)."""

    @property
    def status(self) -> str:
        return "registered"


class PositionOpened(NamedTuple):
    request_id: str
    position: Position
    balance: int
    """The owner's free balance after the margin was locked."""

    @property
    def status(self) -> str:
        return "created"


class ClosedTrade(NamedTuple):
    position: Position
    close_price: int
    pnl: int
    """Realized PnL in cents credited to the owner: half-even rounded, never below -margin."""
    reason: CloseReason
    closed_us: int

    @property
    def liquidated(self) -> bool:
        return self.reason is CloseReason.MARGIN_CALL


class PositionClosed(NamedTuple):
    request_id: str
    """The close-order's id, or the price update's id for closes made by the engine."""
    trade: ClosedTrade
    balance: int
    """The owner's free balance after the credit."""

    @property
    def status(self) -> str:
        return "closed"


class OrderPlaced(NamedTuple):
    request_id: str
    order: PendingOrder
    balance: int
    """The owner's free balance after the reservation."""

    @property
    def status(self) -> str:
        return "placed"


class OrderAmended(NamedTuple):
    request_id: str
    order: PendingOrder
    """The order as it now rests (same id, a new ``seq``)."""
    balance: int

    @property
    def status(self) -> str:
        return "amended"


class EndedOrder(NamedTuple):
    """A pending order that no longer rests: its history row."""

    order: PendingOrder
    status: OrderStatus
    reason: EndReason
    ended_us: int
    fill_price: int | None = None
    """The price it filled at (a filled order only)."""


class OrderFilled(NamedTuple):
    request_id: str
    """The price update's id."""
    ended: EndedOrder
    position: Position
    """The position it opened (same order id), margin at the fill price."""
    balance: int

    @property
    def status(self) -> str:
        return "filled"


class OrderCanceled(NamedTuple):
    """Cancelled by its owner (reason ``user``), or at its fill because the margin at the
    fill price was not covered (reason ``insufficient_balance``, history status
    ``rejected``)."""

    request_id: str
    ended: EndedOrder
    balance: int

    @property
    def status(self) -> str:
        return "canceled"


class OrderExpired(NamedTuple):
    request_id: str
    """The order's own id: nobody waits for it, and no reader mistakes it for a reply."""
    ended: EndedOrder
    balance: int

    @property
    def status(self) -> str:
        return "expired"


class AccountReported(NamedTuple):
    request_id: str
    user_id: str
    balance: int
    locked: int
    positions: tuple[tuple[Position, int | None], ...]
    """One page of open positions (sorted by order id), each with its unrealized PnL in
    cents at the last quote (None when the asset has no quote yet)."""
    orders: bool = True
    """Whether the positions are to be listed in the answer (else only the totals)."""
    unrealized: int = 0
    """The account's unrealized PnL in cents: per asset with a quote, the exact sum over
    its positions rounded half-even once (positions without a quote count 0)."""
    next_cursor: str | None = None
    """The last listed order id when more positions follow the page, else None."""
    reserved: int = 0
    """Cents reserved by pending orders (``orderMargin``)."""
    pending: tuple[PendingOrder, ...] | None = None
    """The account's pending orders by order id, when asked for (else None)."""

    @property
    def status(self) -> str:
        return "account"

    @property
    def equity(self) -> int:
        """Balance + locked margin + order margin + unrealized PnL."""
        return self.balance + self.locked + self.reserved + self.unrealized


class CommandRejected(NamedTuple):
    request_id: str
    user_id: str | None
    reason: RejectReason
    message: str

    @property
    def status(self) -> str:
        return self.reason.value


class SessionEnded(NamedTuple):
    """A session was signed out (``EndSession`` passed through, nothing else changed)."""

    request_id: str
    user_id: str
    token_id: str
    expires_at_s: int

    @property
    def status(self) -> str:
        return "session_ended"


Event = (
    UserRegistered
    | PositionOpened
    | PositionClosed
    | OrderPlaced
    | OrderAmended
    | OrderFilled
    | OrderCanceled
    | OrderExpired
    | AccountReported
    | CommandRejected
    | SessionEnded
)
