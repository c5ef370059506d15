"""Commands: what the engine is asked to do. Typed, already at the instrument's scale.

Every command carries the correlation ``request_id`` of the bus entry that brought it and
``ts_us``, the entry's timestamp, which is the engine's only clock.
"""

from __future__ import annotations

from typing import NamedTuple

from tradepro.domain.orders import OrderType, Side


class RegisterUser(NamedTuple):
    request_id: str
    ts_us: int
    user_id: str


class UpdatePrice(NamedTuple):
    request_id: str
    ts_us: int
    asset: str
    bid: int
    ask: int


class CreateOrder(NamedTuple):
    request_id: str
    """Also the new position's order id: unique per order."""
    ts_us: int
    user_id: str
    asset: str
    side: Side
    qty: int
    leverage: int
    take_profit: int | None = None
    stop_loss: int | None = None
    price: int | None = None
    """The price the user saw; with ``slippage_bps`` it bounds the execution price."""
    slippage_bps: int | None = None
    order_type: OrderType = OrderType.MARKET
    """``limit`` and ``stop`` place a pending order at ``trigger_price`` instead."""
    trigger_price: int | None = None
    """The limit or stop price of a pending order (None for a market order)."""
    expires_us: int | None = None
    """A pending order expires on the first entry at or after this time; None: never."""
    trailing_stop: int | None = None
    """A trailing stop's distance in ticks (see ``engine.trailing``)."""


class CancelOrder(NamedTuple):
    """Cancel one of the user's pending orders (its reservation goes back to the balance)."""

    request_id: str
    ts_us: int
    user_id: str
    order_id: str


AMENDABLE = frozenset({"price", "qty", "take_profit", "stop_loss", "expires_us", "trailing_stop"})


class AmendOrder(NamedTuple):
    """Change a pending order: checked and reserved again as if placed now (same id).

    Only the fields named in ``given`` change; a given None clears ``take_profit``,
    ``stop_loss`` or ``expires_us`` (``price`` and ``qty`` cannot be cleared)."""

    request_id: str
    ts_us: int
    user_id: str
    order_id: str
    given: frozenset[str]
    """Which of ``AMENDABLE`` the request sets."""
    price: int | None = None
    qty: int | None = None
    take_profit: int | None = None
    stop_loss: int | None = None
    expires_us: int | None = None
    asset: str | None = None
    """The instrument the numbers were scaled with; when given it must be the order's."""
    trailing_stop: int | None = None


class CloseOrder(NamedTuple):
    request_id: str
    """A partial close's closed-trade id: a version 7 UUID, used once."""
    ts_us: int
    user_id: str
    order_id: str
    qty: int | None = None
    """Close this much (a partial close, below the open qty); None: all of it."""
    asset: str | None = None
    """The instrument ``qty`` was scaled with; when given it must be the position's."""


MODIFIABLE = frozenset({"take_profit", "stop_loss", "trailing_stop"})


class ModifyOrder(NamedTuple):
    """Set or clear an open position's take-profit, stop-loss and trailing stop.

    Only the fields named in ``given`` change; a given None clears it."""

    request_id: str
    ts_us: int
    user_id: str
    order_id: str
    given: frozenset[str]
    """Which of ``MODIFIABLE`` the request sets."""
    take_profit: int | None = None
    stop_loss: int | None = None
    trailing_stop: int | None = None
    """A distance in ticks."""
    asset: str | None = None
    """The instrument the numbers were scaled with; when given it must be the position's."""


class CloseAll(NamedTuple):
    """Close every open position of the user (of ``asset`` only, when given)."""

    request_id: str
    ts_us: int
    user_id: str
    asset: str | None = None


class ReportAccount(NamedTuple):
    """A read, ordered with the writes: the answer reflects every earlier command."""

    request_id: str
    ts_us: int
    user_id: str
    orders: bool = True
    """Whether the answer lists open positions (a balance alone does not need them)."""
    limit: int = 100
    """At most this many positions are listed (a page; the engine caps it)."""
    after: str | None = None
    """List the positions whose order id sorts after this one (the previous page's last)."""
    order_id: str | None = None
    """List only this order, if it is open (one lookup, whatever the account holds)."""
    pending: bool = False
    """List the account's pending orders instead of its positions (all of them: an
    account holds at most ``EngineConfig.max_pending_per_account``)."""


class ResetAccount(NamedTuple):
    """Start the account over: close every open position at market (reason ``reset``),
    cancel every pending order, then set the free balance to ``balance`` (None: the
    starting balance). The request id is used once, like a partial close's."""

    request_id: str
    ts_us: int
    user_id: str
    balance: int | None = None
    """Cents."""


class Deposit(NamedTuple):
    """Add ``amount`` cents of paper money to the free balance (bounded per UTC day of the
    entries' clock and by the largest balance). The request id is used once."""

    request_id: str
    ts_us: int
    user_id: str
    amount: int


class EndSession(NamedTuple):
    """A signed-out session, passed through to every reader of ``callback-queue`` (the API
    and WebSocket processes refuse it from then on). The engine keeps no state for it."""

    request_id: str
    ts_us: int
    user_id: str
    token_id: str
    """The session token's ``jti``."""
    expires_at_s: int
    """When the token would have expired anyway (epoch seconds): forgetting it is safe then."""


class FeedNote(NamedTuple):
    """The poller's report of its feed's health (``feed-status``): it travels on
    ``engine-stream`` for the WebSocket server's sake. The engine orders it with everything
    else and ignores it: no state, no event, nothing read from its payload."""

    request_id: str
    ts_us: int


Command = (
    RegisterUser
    | UpdatePrice
    | CreateOrder
    | CloseOrder
    | ModifyOrder
    | CloseAll
    | CancelOrder
    | AmendOrder
    | ReportAccount
    | EndSession
    | FeedNote
    | ResetAccount
    | Deposit
)
