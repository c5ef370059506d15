"""Pending orders in the engine: place, amend, cancel, fill on a tick, expire.

Each function takes the engine and returns events, rejections included, like the
engine's own handlers (``engine.core``). Money moves between three places of an account:
the free ``balance``, ``reserved`` (pending orders' margin at their own price, rounded up
to the cent) and ``locked`` (open positions' margin). The ledger invariant counts all
three: balances + reserved + locked + house result == deposits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradepro.domain.commands import AmendOrder, CancelOrder, CreateOrder, UpdatePrice
from tradepro.domain.events import (
    CommandRejected,
    EndedOrder,
    Event,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPlaced,
)
from tradepro.domain.orders import EndReason, OrderStatus, RejectReason, Side
from tradepro.domain.pending import PendingOrder, waiting_side_rule, waits
from tradepro.domain.positions import Contract, Position
from tradepro.engine.state import Account
from tradepro.engine.validation import levels_problem, pending_shape_problem

if TYPE_CHECKING:
    from tradepro.engine.core import Engine

_BUY = Side.BUY
_FILLED = (OrderStatus.FILLED, EndReason.FILLED)
_CANCELED = (OrderStatus.CANCELED, EndReason.USER)
_EXPIRED = (OrderStatus.EXPIRED, EndReason.EXPIRED)
_NO_BALANCE = (OrderStatus.REJECTED, EndReason.INSUFFICIENT_BALANCE)
_new_tuple = tuple.__new__


def place(
    engine: Engine, command: CreateOrder, account: Account, contract: Contract
) -> list[Event]:
    """A new pending order (the order id, the account and the order's shape are checked)."""
    request_id, user_id = command.request_id, command.user_id
    if len(account.orders) >= engine.config.max_pending_per_account:
        limit = engine.config.max_pending_per_account
        message = f"at most {limit} pending orders per account"
        return [CommandRejected(request_id, user_id, RejectReason.INVALID_ORDER, message)]
    checked = _check(engine, command, request_id, contract, account.balance)
    if isinstance(checked, CommandRejected):
        return [checked]
    order = _new_order(engine, command, checked)
    account.balance -= checked
    account.reserved += checked
    engine.order_ids.add(request_id)
    _rest(engine, order, account)
    return [_new_tuple(OrderPlaced, (request_id, order, account.balance))]


def amend(engine: Engine, command: AmendOrder) -> list[Event]:
    """Replace a pending order by its amended self, checked and reserved again as if
    placed now (a new place in the fill order); refused: the order stays as it was."""
    request_id, user_id = command.request_id, command.user_id
    account = engine.accounts.get(user_id)
    order = account.orders.get(command.order_id) if account is not None else None
    if account is None or order is None:
        return [_not_found(request_id, user_id, command.order_id)]
    if command.asset is not None and command.asset != order.asset:
        message = f"asset: the order is for {order.asset}, not {command.asset}"
        return [CommandRejected(request_id, user_id, RejectReason.INVALID_ORDER, message)]
    given = command.given
    wanted = CreateOrder(
        order.order_id,
        command.ts_us,
        user_id,
        order.asset,
        order.side,
        command.qty if "qty" in given and command.qty is not None else order.qty,
        order.leverage,
        command.take_profit if "take_profit" in given else order.take_profit,
        command.stop_loss if "stop_loss" in given else order.stop_loss,
        order_type=order.order_type,
        trigger_price=(
            command.price if "price" in given and command.price is not None else order.price
        ),
        expires_us=command.expires_us if "expires_us" in given else order.expires_us,
        trailing_stop=(command.trailing_stop if "trailing_stop" in given else order.trailing_stop),
    )
    contract = engine.contracts[order.asset]
    shape = pending_shape_problem(wanted, contract)
    if shape is not None:
        return [CommandRejected(request_id, user_id, RejectReason.INVALID_ORDER, shape)]
    checked = _check(engine, wanted, request_id, contract, account.balance + order.reserved)
    if isinstance(checked, CommandRejected):
        return [checked]
    _unrest(engine, order, account)
    amended = _new_order(engine, wanted, checked, created_us=order.created_us)
    account.balance -= checked
    account.reserved += checked
    _rest(engine, amended, account)
    return [_new_tuple(OrderAmended, (request_id, amended, account.balance))]


def cancel(engine: Engine, command: CancelOrder) -> list[Event]:
    """The owner cancels a pending order: its reservation goes back to the balance."""
    request_id, user_id = command.request_id, command.user_id
    account = engine.accounts.get(user_id)
    order = account.orders.get(command.order_id) if account is not None else None
    if account is None or order is None:
        return [_not_found(request_id, user_id, command.order_id)]
    ended = end_pending(engine, order, account, _CANCELED, command.ts_us)
    return [_new_tuple(OrderCanceled, (request_id, ended, account.balance))]


def fill(engine: Engine, seqs: list[int], tick: UpdatePrice) -> list[Event]:
    """Fill the orders a tick triggered, in trigger-price then placement order: each at
    the tick's ask (buy) or bid (sell), or cancelled for balance when the margin at that
    price is more than its reservation and the free balance together."""
    by_seq = engine.pending_by_seq
    orders = sorted((by_seq[seq] for seq in seqs), key=_fill_order)
    bid, ask, request_id, ts_us = tick.bid, tick.ask, tick.request_id, tick.ts_us
    events: list[Event] = []
    for order in orders:
        account = engine.accounts[order.user_id]
        price = ask if order.side is _BUY else bid
        contract = engine.contracts[order.asset]
        margin = contract.margin(price, order.qty, order.leverage)
        fee = contract.commission(price, order.qty)
        if margin + fee > account.balance + order.reserved:
            ended = end_pending(engine, order, account, _NO_BALANCE, ts_us)
            events.append(_new_tuple(OrderCanceled, (request_id, ended, account.balance)))
            continue
        ended = end_pending(engine, order, account, _FILLED, ts_us, fill_price=price)
        position = _open(engine, order, contract, (price, margin), ts_us)._replace(commission=fee)
        account.balance -= margin + fee
        account.locked += margin
        engine.house_cents += fee
        engine.index_position(position, account)
        engine.changes.opened(position)
        events.append(_new_tuple(OrderFilled, (request_id, ended, position, account.balance)))
    return events


def expire(engine: Engine, now_us: int) -> list[Event]:
    """Expire every order whose time has come (on the first input at or after it)."""
    by_seq = engine.pending_by_seq
    seqs = engine.expiries.pop_due(now_us, by_seq.__contains__)
    events: list[Event] = []
    for seq in sorted(seqs, key=lambda seq: (by_seq[seq].expires_us, seq)):
        order = by_seq[seq]
        account = engine.accounts[order.user_id]
        ended = end_pending(engine, order, account, _EXPIRED, now_us)
        events.append(_new_tuple(OrderExpired, (order.order_id, ended, account.balance)))
    return events


# -- helpers ------------------------------------------------------------------------------


def _check(
    engine: Engine, command: CreateOrder, request_id: str, contract: Contract, free: int
) -> int | CommandRejected:
    """The reservation a pending order needs, or why it cannot rest: no or stale quote,
    its price not on the waiting side, levels on the wrong side of its price, an expiry
    that has passed, or not enough free balance (``free``) for the reservation."""
    user_id, asset = command.user_id, command.asset
    price = command.trigger_price
    assert price is not None  # checked by pending_shape_problem
    if command.expires_us is not None and command.expires_us <= command.ts_us:
        message = "expiresAt must be in the future"
        return CommandRejected(request_id, user_id, RejectReason.INVALID_ORDER, message)
    quote = engine.quotes.get(asset)
    if quote is None or command.ts_us - quote.ts_us > engine.config.max_price_age_us:
        return engine.quote_problem(request_id, user_id, asset, command.ts_us)
    if not waits(command.side, command.order_type, price, quote.bid, quote.ask):
        message = waiting_side_rule(command.side, command.order_type)
        return CommandRejected(request_id, user_id, RejectReason.INVALID_ORDER, message)
    if command.take_profit is not None or command.stop_loss is not None:
        problem = levels_problem(command, price, "the order's price")
        if problem is not None:
            return CommandRejected(request_id, user_id, RejectReason.INVALID_ORDER, problem)
    reserve = contract.margin(price, command.qty, command.leverage)
    if reserve > free:
        return engine.insufficient(request_id, user_id, reserve, free, "order margin")
    return reserve


def _new_order(
    engine: Engine, command: CreateOrder, reserve: int, created_us: int | None = None
) -> PendingOrder:
    assert command.trigger_price is not None
    return PendingOrder(
        engine.take_seq(),
        command.request_id,
        command.user_id,
        command.asset,
        command.side,
        command.order_type,
        command.qty,
        command.leverage,
        command.trigger_price,
        command.take_profit,
        command.stop_loss,
        reserve,
        command.expires_us,
        command.ts_us if created_us is None else created_us,
        command.trailing_stop,
    )


def _rest(engine: Engine, order: PendingOrder, account: Account) -> None:
    account.orders[order.order_id] = order
    engine.pending_by_seq[order.seq] = order
    books = engine.pending_books[order.asset]
    books.by_kind[order.side, order.order_type].add(order.price, order.seq)
    books.resting += 1
    if order.expires_us is not None:
        engine.expiries.add(order.expires_us, order.seq)
    engine.changes.placed(order)


def _unrest(engine: Engine, order: PendingOrder, account: Account) -> None:
    """Take an order off the books and give its reservation back to the balance."""
    account.balance += order.reserved
    account.reserved -= order.reserved
    del account.orders[order.order_id]
    del engine.pending_by_seq[order.seq]
    is_pending = engine.pending_by_seq.__contains__
    books = engine.pending_books[order.asset]
    books.by_kind[order.side, order.order_type].removed(is_pending)
    books.resting -= 1
    if order.expires_us is not None:
        engine.expiries.heap.removed(is_pending)


def end_pending(
    engine: Engine,
    order: PendingOrder,
    account: Account,
    ending: tuple[OrderStatus, EndReason],
    ts_us: int,
    *,
    fill_price: int | None = None,
) -> EndedOrder:
    """Take the order off the books (its reservation back to the balance) and note how it
    ended."""
    _unrest(engine, order, account)
    ended = EndedOrder(order, *ending, ts_us, fill_price)
    engine.changes.ended(ended)
    return ended


def _open(
    engine: Engine, order: PendingOrder, contract: Contract, at: tuple[int, int], ts_us: int
) -> Position:
    """The position a fill opens at ``at`` = (price, margin)."""
    price, margin = at
    seq = engine.take_seq()
    side, qty = order.side, order.qty
    return Position(
        seq,
        order.order_id,
        order.user_id,
        order.asset,
        side,
        qty,
        order.leverage,
        price,
        margin,
        order.take_profit,
        order.stop_loss,
        contract.liquidation_price(side, price, qty, margin),
        None,
        ts_us,
        order.trailing_stop,
    )


def _fill_order(order: PendingOrder) -> tuple[int, int]:
    return order.price, order.seq


def _not_found(request_id: str, user_id: str, order_id: str) -> CommandRejected:
    # Never hint that the order exists for someone else.
    message = f"no pending order {order_id!r}"
    return CommandRejected(request_id, user_id, RejectReason.ORDER_NOT_FOUND, message)


__all__ = ["amend", "cancel", "end_pending", "expire", "fill", "place"]
