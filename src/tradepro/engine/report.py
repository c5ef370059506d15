"""The answer to ``ReportAccount``: an account's totals and one page of its positions, or
its pending orders, without a pass over all of its positions (``engine.reads``)."""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING

from tradepro.domain.commands import ReportAccount
from tradepro.domain.events import AccountReported, CommandRejected, Event
from tradepro.domain.orders import RejectReason
from tradepro.domain.pending import PendingOrder
from tradepro.domain.positions import Position
from tradepro.engine.account_ops import deposit_allowance
from tradepro.engine.manage import trailing_level
from tradepro.engine.reads import PAGE_MAX, reads_of

if TYPE_CHECKING:
    from tradepro.engine.core import Engine

_ORDER_ID = attrgetter("order_id")


def report(engine: Engine, command: ReportAccount) -> list[Event]:
    """Totals from the account's running sums; at most one page of its positions, or all
    its pending orders (at most ``max_pending_per_account``); with ``order_id``, that
    order alone, whether open or pending."""
    account = engine.accounts.get(command.user_id)
    if account is None:
        reason = RejectReason.UNKNOWN_USER
        return [CommandRejected(command.request_id, command.user_id, reason, "unknown user")]
    reads = reads_of(account)
    listed: list[Position] = []
    next_cursor = None
    waiting: tuple[PendingOrder, ...] | None = None
    if command.order_id is not None:
        one = account.positions.get(command.order_id)
        listed = [] if one is None else [one]
        resting = account.orders.get(command.order_id)
        waiting = () if resting is None else (resting,)
    elif command.pending:
        waiting = tuple(sorted(account.orders.values(), key=_ORDER_ID))
    elif command.orders:
        limit = min(max(command.limit, 1), PAGE_MAX)
        listed, next_cursor = reads.page(account.positions, command.after, limit)
    valued = tuple(
        (position, engine.unrealized_pnl(position), trailing_level(engine, position))
        for position in listed
    )
    return [
        AccountReported(
            command.request_id,
            command.user_id,
            account.balance,
            account.locked,
            valued,
            (command.orders and not command.pending) or command.order_id is not None,
            reads.unrealized(engine.contracts, engine.quotes),
            next_cursor,
            account.reserved,
            waiting,
            deposit_allowance(engine, command.user_id, command.ts_us),
        )
    ]
