"""Money from outside trading: reset an account, deposit paper money.

Both are ledger deposits: ``Engine.deposits_cents`` moves by exactly what the free balance
moves by, so balances + locked + reserved + house result == deposits keeps holding. A
reset first closes every open position at market (reason ``reset``, commission as any
close) and cancels every pending order (reason ``reset``), then sets the free balance:
what it adds (new balance minus the balance after the closes) may be negative.

Deposits are bounded per user and UTC day of the engine's clock (the entries'
timestamps, so a replay counts the same), and by the largest balance an account may
hold. The request id of either is used once, like a partial close's (``admit_request_id``):
a replayed entry changes nothing.
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING

from tradepro.domain.commands import Deposit, ResetAccount
from tradepro.domain.events import (
    AccountReset,
    ClosedTrade,
    CommandRejected,
    Deposited,
    EndedOrder,
    Event,
    LedgerEntry,
    OrderCanceled,
    PositionClosed,
)
from tradepro.domain.orders import CloseReason, EndReason, OrderStatus, RejectReason, Side
from tradepro.engine.pending import end_pending
from tradepro.engine.validation import dollars

if TYPE_CHECKING:
    from tradepro.engine.core import Engine
    from tradepro.engine.state import Account

DAY_US = 86_400 * 1_000_000
_BUY = Side.BUY
_RESET_CANCEL = (OrderStatus.CANCELED, EndReason.RESET)
_seq = attrgetter("seq")
DEPOSIT = "deposit"
RESET = "reset"


def reset(engine: Engine, command: ResetAccount) -> list[Event]:
    """Close, cancel, set the balance; refused whole (nothing changes) when an open
    position's asset has no fresh price, or the balance is out of bounds."""
    request_id, user_id = command.request_id, command.user_id
    account = _admitted(engine, command)
    if isinstance(account, CommandRejected):
        return [account]
    config = engine.config
    balance = config.starting_balance_cents if command.balance is None else command.balance
    if balance < 0:
        message = "balance must not be negative"
        return [CommandRejected(request_id, user_id, RejectReason.INVALID_REQUEST, message)]
    if balance > config.max_paper_balance_cents:
        message = f"balance: at most {dollars(config.max_paper_balance_cents)}"
        return [CommandRejected(request_id, user_id, RejectReason.BALANCE_LIMIT, message)]
    positions = sorted(account.positions.values(), key=_seq)
    for asset in dict.fromkeys(p.asset for p in positions):
        quote = engine.quotes.get(asset)
        if quote is None or command.ts_us - quote.ts_us > config.max_price_age_us:
            problem = engine.quote_problem(request_id, user_id, asset, command.ts_us)
            message = f"nothing was reset: {problem.message} (open positions close at market)"
            return [problem._replace(message=message)]
    ts_us = command.ts_us
    events: list[Event] = []
    trades: list[ClosedTrade] = []
    for position in positions:
        quote = engine.quotes[position.asset]
        price = quote.bid if position.side is _BUY else quote.ask
        closed: PositionClosed = engine.close(
            position, price, CloseReason.RESET, position.order_id, ts_us
        )
        events.append(closed)
        trades.append(closed.trade)
    canceled: list[EndedOrder] = []
    for order in sorted(account.orders.values(), key=_seq):
        ended = end_pending(engine, order, account, _RESET_CANCEL, ts_us)
        events.append(OrderCanceled(order.order_id, ended, account.balance))
        canceled.append(ended)
    entry = _move(engine, command, RESET, balance - account.balance)
    events.append(AccountReset(request_id, entry, tuple(trades), tuple(canceled)))
    return events


def deposit(engine: Engine, command: Deposit) -> list[Event]:
    """Add paper money within the day's allowance and the largest balance."""
    request_id, user_id, amount = command.request_id, command.user_id, command.amount
    account = _admitted(engine, command)
    if isinstance(account, CommandRejected):
        return [account]
    if amount <= 0:
        message = "amount must be positive"
        return [CommandRejected(request_id, user_id, RejectReason.INVALID_REQUEST, message)]
    config = engine.config
    allowance = deposit_allowance(engine, user_id, command.ts_us)
    if amount > allowance:
        message = (
            f"deposits are limited to {dollars(config.daily_deposit_cap_cents)} per day (UTC); "
            f"{dollars(allowance)} may still be deposited today"
        )
        return [CommandRejected(request_id, user_id, RejectReason.DEPOSIT_LIMIT, message)]
    held = account.balance + account.locked + account.reserved
    room = max(config.max_paper_balance_cents - held, 0)
    if amount > room:
        message = (
            f"an account may hold at most {dollars(config.max_paper_balance_cents)} "
            f"(free balance and margin); {dollars(room)} may still be deposited"
        )
        return [CommandRejected(request_id, user_id, RejectReason.BALANCE_LIMIT, message)]
    day = command.ts_us // DAY_US
    if day != engine.deposit_day:
        engine.deposit_day = day
        engine.deposited_today = {}
    engine.deposited_today[user_id] = engine.deposited_today.get(user_id, 0) + amount
    entry = _move(engine, command, DEPOSIT, amount)
    return [Deposited(request_id, entry, allowance - amount)]


def deposit_allowance(engine: Engine, user_id: str, ts_us: int) -> int:
    """Cents ``user_id`` may still deposit on the UTC day of ``ts_us``."""
    cap = engine.config.daily_deposit_cap_cents
    if ts_us // DAY_US != engine.deposit_day:
        return cap
    return max(cap - engine.deposited_today.get(user_id, 0), 0)


def _admitted(engine: Engine, command: ResetAccount | Deposit) -> Account | CommandRejected:
    """The command's account, if it exists and the request id is used once (a version 7
    UUID within the window, never seen before)."""
    account = engine.accounts.get(command.user_id)
    if account is None:
        return CommandRejected(
            command.request_id, command.user_id, RejectReason.UNKNOWN_USER, "unknown user"
        )
    problem = engine.admit_request_id(command)
    if problem is not None and problem.reason is RejectReason.DUPLICATE_REQUEST:
        message = "this request was applied before (a request id is used once)"
        return problem._replace(message=message)
    return account if problem is None else problem


def _move(engine: Engine, command: ResetAccount | Deposit, kind: str, amount: int) -> LedgerEntry:
    """Add ``amount`` (signed) to the free balance and to the deposits; note it."""
    account = engine.accounts[command.user_id]
    account.balance += amount
    engine.deposits_cents += amount
    engine.order_ids.add(command.request_id)
    entry = LedgerEntry(
        command.request_id, command.user_id, kind, amount, account.balance, command.ts_us
    )
    engine.changes.ledger(entry)
    return entry


__all__ = ["DAY_US", "deposit", "deposit_allowance", "reset"]
