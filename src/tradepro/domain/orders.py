"""Order vocabulary: sides, close reasons, rejection reasons."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    """``buy`` opens long at the ask and closes at the bid; ``sell`` the mirror image."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """``market`` opens at once; ``limit`` and ``stop`` wait for their price (pending)."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class OrderStatus(StrEnum):
    """How a pending order ended (get-order-history)."""

    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    """It triggered but could not be filled (the margin at the fill price was not covered)."""


class EndReason(StrEnum):
    """Why a pending order ended: beside ``OrderStatus`` in its history row."""

    FILLED = "filled"
    USER = "user"
    EXPIRED = "expired"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    RESET = "reset"
    """Cancelled by an account reset."""


class CloseReason(StrEnum):
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    MARGIN_CALL = "margin_call"
    TRAILING_STOP = "trailing_stop"
    USER = "user"
    RESET = "reset"
    """Closed at market by an account reset."""


class RejectReason(StrEnum):
    """Why the engine refused a command. Each is also the callback status."""

    INVALID_ORDER = "invalid_order"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    NO_PRICE = "no_price"
    STALE_PRICE = "stale_price"
    SLIPPAGE_EXCEEDED = "slippage_exceeded"
    ORDER_NOT_FOUND = "order_not_found"
    UNKNOWN_USER = "unknown_user"
    DUPLICATE_REQUEST = "duplicate_request"
    INVALID_PRICE = "invalid_price"
    INVALID_REQUEST = "invalid_request"
    UNKNOWN_KIND = "unknown_kind"
    DEPOSIT_LIMIT = "deposit_limit"
    """A deposit beyond the day's allowance (``EngineConfig.daily_deposit_cap_cents``)."""
    BALANCE_LIMIT = "balance_limit"
    """A deposit or reset that would leave more than ``EngineConfig.max_paper_balance_cents``."""
