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
    commission: int = 0
    """Cents of commission this trade paid: its share of the open commission plus the
    close commission (never more than the credit left after the PnL)."""
    trade_id: str | None = None
    """The closed-trade row's id when it is not the order id: a partial close's request id."""

    @property
    def liquidated(self) -> bool:
        return self.reason is CloseReason.MARGIN_CALL

    @property
    def id(self) -> str:
        """The closed-trade row's id: the order id, or a partial close's request id."""
        return self.position.order_id if self.trade_id is None else self.trade_id


class PositionClosed(NamedTuple):
    request_id: str
    """The close-order's id, or the price update's id for closes made by the engine."""
    trade: ClosedTrade
    balance: int
    """The owner's free balance after the credit."""
    remaining: Position | None = None
    """After a partial close: the position left open (same order id, a new ``seq``)."""

    @property
    def status(self) -> str:
        return "closed"


class PositionModified(NamedTuple):
    """An open position's take-profit, stop-loss or trailing stop was set or cleared."""

    request_id: str
    position: Position
    """The position as it now is (same order id, a new ``seq``)."""
    balance: int
    trailing_level: int | None
    """The trailing stop's current level in ticks, if it has one."""

    @property
    def status(self) -> str:
        return "modified"


class AllClosed(NamedTuple):
    """The answer to a close-all: every position it closed (each was also announced as
    its own ``PositionClosed``), in the order they closed."""

    request_id: str
    user_id: str
    trades: tuple[ClosedTrade, ...]
    balance: int

    @property
    def status(self) -> str:
        return "closed_all"


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
    positions: tuple[tuple[Position, int | None, int | None], ...]
    """One page of open positions (sorted by order id), each with its unrealized PnL in
    cents at the last quote (None when the asset has no quote yet) and its trailing stop's
    current level (None without one)."""
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
    deposit_allowance: int | None = None
    """Cents the user may still deposit today (``engine.account_ops``)."""

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


class LedgerEntry(NamedTuple):
    """Money put in or taken out of an account from outside trading: a deposit, or the
    difference a reset made (negative when the account held more). Its row in
    ``ledger_entries`` has the command's request id as its id."""

    id: str
    user_id: str
    kind: str
    """``deposit`` or ``reset``."""
    amount: int
    """Cents added to the free balance (signed)."""
    balance_after: int
    created_us: int


class AccountReset(NamedTuple):
    """The answer to a reset: every position it closed and every pending order it
    cancelled (each also announced on its own, under its order id), then the new balance."""

    request_id: str
    entry: LedgerEntry
    trades: tuple[ClosedTrade, ...]
    canceled: tuple[EndedOrder, ...]

    @property
    def status(self) -> str:
        return "reset"


class Deposited(NamedTuple):
    """The answer to a deposit, with what the day's allowance still allows."""

    request_id: str
    entry: LedgerEntry
    allowance: int
    """Cents that may still be deposited today (UTC day of the engine's clock)."""

    @property
    def status(self) -> str:
        return "deposit"


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
    | PositionModified
    | AllClosed
    | OrderPlaced
    | OrderAmended
    | OrderFilled
    | OrderCanceled
    | OrderExpired
    | AccountReported
    | CommandRejected
    | SessionEnded
    | AccountReset
    | Deposited
)
