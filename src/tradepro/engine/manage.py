"""Managing open positions: modify take-profit, stop-loss and trailing stop; close part of
a position; close all of an account's positions in one command.

Each function takes the engine and returns events, rejections included, like the engine's
own handlers (``engine.core``). A position that changes is re-indexed under a new ``seq``:
its keys in the trigger books die (the books tell a live key by its seq being open) and
new ones are pushed, O(log n) each; a trailing stop keeps its running extreme across a
re-index (``_reindex`` reads it before the old key dies) unless its distance is set anew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradepro.domain.commands import CloseAll, CloseOrder, ModifyOrder
from tradepro.domain.events import (
    AllClosed,
    ClosedTrade,
    CommandRejected,
    Event,
    PositionClosed,
    PositionModified,
)
from tradepro.domain.orders import CloseReason, RejectReason, Side
from tradepro.domain.positions import Position
from tradepro.engine.state import Account, Quote

if TYPE_CHECKING:
    from tradepro.engine.core import Engine

_BUY = Side.BUY
_USER = CloseReason.USER
_INVALID = RejectReason.INVALID_ORDER
_new_tuple = tuple.__new__


def trailing_x(side: Side, quote: Quote) -> int:
    """The number a side's trailing book follows: the bid for buys, minus the ask for sells."""
    return quote.bid if side is _BUY else -quote.ask


def trailing_level(engine: Engine, position: Position) -> int | None:
    """A position's current trailing stop level in ticks (None without a trailing stop)."""
    distance = position.trailing_stop
    if distance is None:
        return None
    book = engine.trailing[position.asset][position.side is not _BUY]
    extreme = book.extreme_of(position.seq)
    if extreme is None:
        return None
    return extreme - distance if position.side is _BUY else -extreme + distance


def modify(engine: Engine, command: ModifyOrder) -> list[Event]:
    """Set or clear take-profit, stop-loss and trailing stop; a level that the current
    price has already reached is refused (it would fire at once)."""
    # Tuples are unpacked whole: one step instead of a field lookup per value (this and
    # ``close_part`` run once per command, and a lookup costs as much as the arithmetic).
    (request_id, ts_us, user_id, order_id, given, take_profit, stop_loss, trailing,
     named_asset) = command  # fmt: skip
    account = engine.accounts.get(user_id)
    position = account.positions.get(order_id) if account is not None else None
    if account is None or position is None:
        return [_not_found(request_id, user_id, order_id)]
    if not given:
        message = "nothing to modify: give takeProfit, stopLoss or trailingStop"
        return [CommandRejected(request_id, user_id, _INVALID, message)]
    # The position's own order id string from here on: the one the id window shares.
    (_, order_id, owner, asset, side, qty, leverage, open_price, margin, old_take_profit,
     old_stop_loss, liquidation, slippage, opened_us, old_trailing,
     commission) = position  # fmt: skip
    if named_asset is not None and named_asset != asset:
        message = f"asset: the order is for {asset}, not {named_asset}"
        return [CommandRejected(request_id, user_id, _INVALID, message)]
    quote = engine.quotes.get(asset)
    if quote is None or ts_us - quote.ts_us > engine.config.max_price_age_us:
        return [engine.quote_problem(request_id, user_id, asset, ts_us)]
    if "take_profit" not in given:
        take_profit = old_take_profit
    if "stop_loss" not in given:
        stop_loss = old_stop_loss
    restart_trailing = "trailing_stop" in given
    if not restart_trailing:
        trailing = old_trailing
    problem = _levels_problem(side, quote, take_profit, stop_loss, trailing)
    if problem is not None:
        return [CommandRejected(request_id, user_id, _INVALID, problem)]
    # Built field by field (NamedTuple._replace costs a Python-level pass over the fields).
    modified: Position = _new_tuple(
        Position,
        (engine.take_seq(), order_id, owner, asset, side, qty, leverage, open_price, margin,
         take_profit, stop_loss, liquidation, slippage, opened_us, trailing, commission),
    )  # fmt: skip
    _reindex(engine, account, position, modified, restart_trailing)
    engine.changes.opened(modified)
    level = None if trailing is None else trailing_level(engine, modified)
    return [_new_tuple(PositionModified, (request_id, modified, account.balance, level))]


def close_part(
    engine: Engine, command: CloseOrder, account: Account, position: Position, price: int
) -> list[Event]:
    """Close ``command.qty`` of a position at ``price``: the rest stays open exactly as if
    opened with the remaining qty at the same price and leverage. The closed part's trade
    id is the request's id, which (like an order id) is used once."""
    request_id, ts_us, user_id, _, qty, named_asset = command
    (seq, order_id, owner, asset, side, open_qty, leverage, open_price, old_margin, take_profit,
     stop_loss, liquidation, slippage, opened_us, trailing, old_commission) = position  # fmt: skip
    if named_asset is not None and named_asset != asset:
        message = f"asset: the order is for {asset}, not {named_asset}"
        return [CommandRejected(request_id, user_id, _INVALID, message)]
    if qty is None:
        return [engine.close(position, price, _USER, request_id, ts_us)]
    if qty <= 0:
        return [CommandRejected(request_id, user_id, _INVALID, "qty must be positive")]
    if qty >= open_qty:
        message = "qty must be below the open qty (leave qty out to close all of it)"
        return [CommandRejected(request_id, user_id, _INVALID, message)]
    id_problem = engine.admit_request_id(command)
    if id_problem is not None:
        if id_problem.reason is RejectReason.DUPLICATE_REQUEST:
            message = "this close request was applied before (a request id is used once)"
            id_problem = id_problem._replace(message=message)
        return [id_problem]
    contract = engine.contracts[asset]
    left = open_qty - qty
    margin = contract.margin(open_price, left, leverage)
    commission = min(contract.commission(open_price, left), old_commission)
    part: Position = _new_tuple(
        Position,
        (seq, order_id, owner, asset, side, qty, leverage, open_price, old_margin - margin,
         take_profit, stop_loss, liquidation, slippage, opened_us, trailing,
         old_commission - commission),
    )  # fmt: skip
    remaining: Position = _new_tuple(
        Position,
        (engine.take_seq(), order_id, owner, asset, side, left, leverage, open_price, margin,
         take_profit, stop_loss, contract.liquidation_price(side, open_price, left, margin),
         slippage, opened_us, trailing, commission),
    )  # fmt: skip
    engine.order_ids.add(request_id)
    # Locked margin stays as it was (the remainder's margin and the part's add up to the
    # old margin) until ``settle`` moves the part's margin out.
    _reindex(engine, account, position, remaining, False)
    trade = engine.settle(part, price, _USER, ts_us, account=account, trade_id=request_id)
    engine.changes.closed_part(trade, remaining)
    return [_new_tuple(PositionClosed, (request_id, trade, account.balance, remaining))]


def close_all(engine: Engine, command: CloseAll) -> list[Event]:
    """Close every open position of the account (of one asset, when given) at the
    current prices, in open order; refused whole when a needed price is missing or old.
    Each close is announced under its order id; the answer lists them all."""
    request_id, user_id = command.request_id, command.user_id
    account = engine.accounts.get(user_id)
    if account is None:
        return [CommandRejected(request_id, user_id, RejectReason.UNKNOWN_USER, "unknown user")]
    if command.asset is not None and command.asset not in engine.contracts:
        message = f"asset: unknown asset {command.asset!r}"
        return [CommandRejected(request_id, user_id, _INVALID, message)]
    positions = sorted(
        (p for p in account.positions.values() if command.asset in (None, p.asset)),
        key=_seq,
    )
    for asset in dict.fromkeys(p.asset for p in positions):
        quote = engine.quotes.get(asset)
        if quote is None or command.ts_us - quote.ts_us > engine.config.max_price_age_us:
            return [engine.quote_problem(request_id, user_id, asset, command.ts_us)]
    events: list[Event] = []
    trades: list[ClosedTrade] = []
    for position in positions:
        quote = engine.quotes[position.asset]
        price = quote.bid if position.side is _BUY else quote.ask
        closed = engine.close(position, price, _USER, position.order_id, command.ts_us)
        events.append(closed)
        trades.append(closed.trade)
    events.append(AllClosed(request_id, user_id, tuple(trades), account.balance))
    return events


# -- helpers ------------------------------------------------------------------------------


def _not_found(request_id: str, user_id: str, order_id: str) -> CommandRejected:
    # Never hint that the order exists for someone else.
    message = f"no open order {order_id!r}"
    return CommandRejected(request_id, user_id, RejectReason.ORDER_NOT_FOUND, message)


def _levels_problem(
    side: Side,
    quote: Quote,
    take_profit: int | None,
    stop_loss: int | None,
    trailing: int | None,
) -> str | None:
    """Levels must be positive and not yet reached by the price the position closes at
    (a buy's bid, a sell's ask): a level already reached would fire at once. (Written out
    level by level: it runs on every modify.)"""
    if take_profit is not None and take_profit <= 0:
        return "takeProfit must be positive"
    if stop_loss is not None and stop_loss <= 0:
        return "stopLoss must be positive"
    if trailing is not None and trailing <= 0:
        return "trailingStop must be positive"
    if side is _BUY:
        bid = quote.bid
        if take_profit is not None and take_profit <= bid:
            return "takeProfit must be above the current bid (it would close the position now)"
        if stop_loss is not None and stop_loss >= bid:
            return "stopLoss must be below the current bid (it would close the position now)"
        return None
    ask = quote.ask
    if take_profit is not None and take_profit >= ask:
        return "takeProfit must be below the current ask (it would close the position now)"
    if stop_loss is not None and stop_loss <= ask:
        return "stopLoss must be above the current ask (it would close the position now)"
    return None


def _reindex(
    engine: Engine, account: Account, old: Position, new: Position, restart_trailing: bool
) -> None:
    """Replace ``old`` by ``new`` (same order id, asset and side; a new seq) in the account
    and every book: what ``unindex_position(old)`` then ``index_position(new)`` do, in one
    pass (it runs on every modify and partial close). The trailing extreme carries over
    unless restarted. Locked margin is the caller's: a modify leaves it, a partial close
    moves the closed part's out when it settles. (The caller notes the change:
    ``engine.changes.opened``.)"""
    asset, side, order_id, old_seq = old.asset, old.side, old.order_id, old.seq
    positions = account.positions
    del positions[order_id]
    positions[order_id] = new  # last, like its new seq
    reads = account.reads
    if reads is not None:
        reads.closed(old)
        reads.opened(new)
    open_by_seq = engine.open_by_seq
    del open_by_seq[old_seq]
    seq = new.seq
    open_by_seq[seq] = new
    is_open = open_by_seq.__contains__
    profit, stop = engine.books[asset].by_side[side]
    take_profit = new.take_profit
    if old.take_profit is None:
        if take_profit is not None:
            profit.add(take_profit, seq)
    elif take_profit is None:
        profit.removed(is_open)
    else:
        profit.replaced(take_profit, seq, is_open)
    stop_loss, level = new.stop_loss, new.liquidation_price
    if stop_loss is not None:  # ``stop_level``, written out
        level = max(stop_loss, level) if side is _BUY else min(stop_loss, level)
    stop.replaced(level, seq, is_open)
    if old.trailing_stop is not None or new.trailing_stop is not None:
        _retrail(engine, old, new, restart_trailing)


def _retrail(engine: Engine, old: Position, new: Position, restart_trailing: bool) -> None:
    """The trailing book's part of ``_reindex``."""
    side = old.side
    book = engine.trailing[old.asset][side is not _BUY]
    extreme = None
    if old.trailing_stop is not None:
        if not restart_trailing:
            extreme = book.extreme_of(old.seq)
        book.remove(old.seq)
    distance = new.trailing_stop
    if distance is not None:
        if extreme is None:
            extreme = trailing_x(side, engine.quotes[old.asset])
        book.add(new.seq, distance, extreme)


def _seq(position: Position) -> int:
    return position.seq


__all__ = ["close_all", "close_part", "modify", "trailing_level", "trailing_x"]
