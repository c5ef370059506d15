"""The engine: the single writer of balances and positions.

``Engine.apply(command)`` is pure and synchronous: the same commands in the same order give
the same events and the same state, whatever the machine or the wall clock. Ledger rule:
sum(balances) + sum(locked margin) + house result == deposits, always.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from tradepro.domain.commands import (
    AmendOrder,
    CancelOrder,
    CloseAll,
    CloseOrder,
    Command,
    CreateOrder,
    Deposit,
    EndSession,
    FeedNote,
    ModifyOrder,
    RegisterUser,
    ReportAccount,
    ResetAccount,
    UpdatePrice,
)
from tradepro.domain.events import (
    ClosedTrade,
    CommandRejected,
    Event,
    PositionClosed,
    PositionOpened,
    SessionEnded,
    UserRegistered,
)
from tradepro.domain.orders import CloseReason, OrderType, RejectReason, Side
from tradepro.domain.pending import PendingOrder
from tradepro.domain.positions import (
    Contract,
    Position,
    stop_level,
    trigger_reason,
)
from tradepro.engine import account_ops, manage, pending
from tradepro.engine.account_events import owner_getter, owner_getters
from tradepro.engine.books import MAX_SEQ, AssetBooks
from tradepro.engine.changes import ChangeLog, ChangeSet
from tradepro.engine.order_window import OrderIdWindow, time_prefix
from tradepro.engine.pending_books import ExpiryHeap, PendingBooks
from tradepro.engine.reads import unrealized_pnl
from tradepro.engine.report import report
from tradepro.engine.state import Account, EngineConfig, Quote
from tradepro.engine.trailing import TrailingBook
from tradepro.engine.validation import (
    MAX_ID_LENGTH,
    dollars,
    levels_problem,
    market_shape_problem,
    order_id_problem,
    order_shape_problem,
    pending_shape_problem,
    slipped,
)

# Module globals for the hot path: enum attribute lookups cost ~150 ns each on 3.11, and
# building a NamedTuple through tuple.__new__ skips the generated __new__'s Python frame.
_BUY = Side.BUY
_USER = CloseReason.USER
_MARKET = OrderType.MARKET
_new_tuple = tuple.__new__


class Engine:
    """Applies commands one at a time and returns the events they caused."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.accounts: dict[str, Account] = {}
        self.quotes: dict[str, Quote] = {}
        self.open_by_seq: dict[int, Position] = {}
        self.books: dict[str, AssetBooks] = {
            symbol: AssetBooks() for symbol in self.config.instruments
        }
        self.contracts: dict[str, Contract] = {
            symbol: Contract(instrument, self.config.maintenance_margin_bps)
            for symbol, instrument in self.config.instruments.items()
        }
        self.trailing: dict[str, tuple[TrailingBook, TrailingBook]] = {
            symbol: (TrailingBook(), TrailingBook()) for symbol in self.config.instruments
        }
        """Per asset: the trailing stops of buys (on the bid) and of sells (on -ask)."""
        self.pending_by_seq: dict[int, PendingOrder] = {}
        self.pending_books: dict[str, PendingBooks] = {
            symbol: PendingBooks() for symbol in self.config.instruments
        }
        self.expiries = ExpiryHeap()
        self.next_seq = 1
        self.house_cents = 0
        """The house's realized result: the opposite of every PnL paid out."""
        self.deposits_cents = 0
        self.deposit_day = -1
        """The UTC day (of the entries' clock) that ``deposited_today`` counts."""
        self.deposited_today: dict[str, int] = {}
        """Cents each user deposited on ``deposit_day`` (``engine.account_ops``)."""
        self.order_ids = OrderIdWindow()
        """Every order id opened at or after its horizon (ids before it are refused)."""
        self._window_ms = self.config.order_id_window_us // 1000
        self._lead_ms = self.config.order_id_lead_us // 1000
        self._id_clock_ms = -1
        """The entry time (ms) of the last create: ``_lead_prefix`` is computed for it."""
        self._lead_prefix = ""
        """``time_prefix`` of the latest time an order id may have (``_id_clock_ms`` + lead)."""
        self.changes = ChangeLog()
        self.event_seqs: Sequence[int | None] = ()
        """The account ``seq`` of each event the last ``emit`` returned (None: not an
        account event)."""
        self._handlers: dict[type, Callable[[object], list[Event]]] = {
            RegisterUser: self._register,  # type: ignore[dict-item]
            UpdatePrice: self._update_price,  # type: ignore[dict-item]
            CreateOrder: self._create,  # type: ignore[dict-item]
            CloseOrder: self._close_by_user,  # type: ignore[dict-item]
            ModifyOrder: partial(manage.modify, self),
            CloseAll: partial(manage.close_all, self),
            CancelOrder: partial(pending.cancel, self),
            AmendOrder: partial(pending.amend, self),
            ReportAccount: partial(report, self),
            ResetAccount: partial(account_ops.reset, self),
            Deposit: partial(account_ops.deposit, self),
            EndSession: _end_session,  # type: ignore[dict-item]
            FeedNote: _ignored,
        }

    # -- commands -------------------------------------------------------------------------

    def apply(self, command: Command) -> list[Event]:
        """Apply one command; return what happened, rejections included. Pending orders
        whose expiry has come expire first (on the first input at or after it)."""
        if command.ts_us >= self.expiries.due_us:
            events = [*pending.expire(self, command.ts_us), *self._handlers[type(command)](command)]
        else:
            events = self._handlers[type(command)](command)
        if events:
            return self.emit(events)
        self.event_seqs = ()
        return events

    def emit(self, events: list[Event]) -> list[Event]:
        """Number the account events among ``events`` (``engine.account_events``) and return
        them; their numbers are in ``event_seqs``, position by position. Every event the
        engine hands out passes here."""
        accounts, changes = self.accounts, self.changes
        seqs: list[int | None] = []
        getters = owner_getters
        for event in events:
            kind = type(event)
            owner_of = getters[kind] if kind in getters else owner_getter(kind)
            owner = None if owner_of is None else owner_of(event)
            if not isinstance(owner, str) or (account := accounts.get(owner)) is None:
                seqs.append(None)  # a reply, or no account to number it in
                continue
            account.event_seq += 1
            seqs.append(account.event_seq)
            changes.account(owner)
        self.event_seqs = seqs
        return events

    def _register(self, command: RegisterUser) -> list[Event]:
        if not command.user_id or len(command.user_id) > MAX_ID_LENGTH:
            return [_reject(command.request_id, None, RejectReason.INVALID_REQUEST, "bad user id")]
        account = self.accounts.get(command.user_id)
        if account is not None:
            return [UserRegistered(command.request_id, command.user_id, account.balance, False)]
        deposit = self.config.starting_balance_cents
        self.accounts[command.user_id] = Account(deposit)
        self.deposits_cents += deposit
        self.changes.account(command.user_id)
        return [UserRegistered(command.request_id, command.user_id, deposit, True)]

    def _update_price(self, command: UpdatePrice) -> list[Event]:
        books = self.books.get(command.asset)
        if books is None:
            message = f"unknown asset {command.asset!r}"
            return [_reject(command.request_id, None, RejectReason.INVALID_PRICE, message)]
        bid, ask = command.bid, command.ask
        if bid <= 0 or ask < bid:
            message = f"quote must satisfy 0 < bid <= ask, got bid={bid} ask={ask}"
            return [_reject(command.request_id, None, RejectReason.INVALID_PRICE, message)]
        self.quotes[command.asset] = Quote(bid, ask, command.ts_us)
        is_open = self.open_by_seq.__contains__
        buy_trailing, sell_trailing = self.trailing[command.asset]
        trailed = [*buy_trailing.fire(bid), *sell_trailing.fire(-ask)]
        fired = [
            *books.buy_profit.pop_through(bid, is_open),
            *books.buy_stop.pop_through(bid, is_open),
            *books.sell_profit.pop_through(ask, is_open),
            *books.sell_stop.pop_through(ask, is_open),
            *trailed,
        ]
        events: list[Event] = []
        if fired:
            # A position filled through a gap may cross its take-profit and its stop on
            # one later tick: both books then name it, and it closes once.
            fired = sorted(set(fired))
            open_by_seq = self.open_by_seq
            for seq in fired:
                position = open_by_seq[seq]
                price = bid if position.side is _BUY else ask
                reason = trigger_reason(position, price, price if seq in trailed else None)
                close = self.close(position, price, reason, command.request_id, command.ts_us)
                events.append(close)
        # Then pending orders: the positions they open join the books after the closes
        # above, so their own triggers count from the next tick of the asset.
        resting = self.pending_books[command.asset]
        if resting.resting:
            filled = resting.fired(bid, ask, self.pending_by_seq)
            if filled:
                events += pending.fill(self, filled, command)
        return events

    def _full(self, account: Account) -> str | None:
        """Why ``account`` may open no more positions, or None."""
        limit = self.config.max_open_per_account
        if len(account.positions) < limit:
            return None
        return f"at most {limit:,} open positions per account: close some first"

    def _create(self, command: CreateOrder) -> list[Event]:
        request_id, user_id = command.request_id, command.user_id
        id_problem = self.admit_request_id(command)
        if id_problem is not None:
            return [id_problem]
        account = self.accounts.get(user_id)
        if account is None:
            return [_reject(request_id, user_id, RejectReason.UNKNOWN_USER, "unknown user")]
        asset = command.asset
        contract = self.contracts.get(asset)
        if command.order_type is not _MARKET and contract is not None:
            return self._place(command, account, contract)
        problem = (
            order_shape_problem(command, contract)
            or market_shape_problem(command)
            or self._full(account)
        )
        if problem is not None:
            return [_reject(request_id, user_id, RejectReason.INVALID_ORDER, problem)]
        quote = self.quotes.get(asset)
        if quote is None or command.ts_us - quote.ts_us > self.config.max_price_age_us:
            return [self.quote_problem(request_id, user_id, asset, command.ts_us)]
        assert contract is not None  # checked by _check_order_shape
        side, qty = command.side, command.qty
        price = quote.ask if side is _BUY else quote.bid
        if command.take_profit is not None or command.stop_loss is not None:
            level_problem = levels_problem(command, price)
            if level_problem is not None:
                return [_reject(request_id, user_id, RejectReason.INVALID_ORDER, level_problem)]
        if command.price is not None and slipped(command, price):
            message = "execution price moved beyond the slippage limit"
            return [_reject(request_id, user_id, RejectReason.SLIPPAGE_EXCEEDED, message)]
        margin = contract.margin(price, qty, command.leverage)
        fee = contract.commission(price, qty)
        if margin + fee > account.balance:
            what = "margin" if fee == 0 else "margin and commission"
            return [self.insufficient(request_id, user_id, margin + fee, account.balance, what)]
        seq = self.take_seq()
        position: Position = _new_tuple(
            Position,
            (
                seq,
                request_id,
                user_id,
                asset,
                side,
                qty,
                command.leverage,
                price,
                margin,
                command.take_profit,
                command.stop_loss,
                contract.liquidation_price(side, price, qty, margin),
                command.slippage_bps,
                command.ts_us,
                command.trailing_stop,
                fee,
            ),
        )
        account.balance -= margin + fee
        account.locked += margin
        self.house_cents += fee
        self.order_ids.add(request_id)
        self.index_position(position, account)
        self.changes.opened(position)
        return [_new_tuple(PositionOpened, (request_id, position, account.balance))]

    def _place(self, command: CreateOrder, account: Account, contract: Contract) -> list[Event]:
        """A limit or stop order: checked for its shape, then placed (``engine.pending``)."""
        problem = pending_shape_problem(command, contract)
        if problem is None:
            return pending.place(self, command, account, contract)
        return [_reject(command.request_id, command.user_id, RejectReason.INVALID_ORDER, problem)]

    def admit_request_id(
        self, command: CreateOrder | CloseOrder | ResetAccount | Deposit
    ) -> CommandRejected | None:
        """None if the order id may open a position: a version 7 UUID made within the window
        and the lead, never opened before. Every create moves the horizon first.

        String comparisons only (see ``engine.order_window``): ``protocol.decode`` has
        required the canonical lowercase form of every id that comes from the bus."""
        order_ids = self.order_ids
        now_ms = command.ts_us // 1000
        if now_ms != self._id_clock_ms:
            self._id_clock_ms = now_ms
            self._lead_prefix = time_prefix(now_ms + self._lead_ms)
            if now_ms - self._window_ms > order_ids.horizon_ms:
                order_ids.advance(now_ms - self._window_ms)
        order_id = command.request_id
        stamp = order_id[:13]
        if (
            stamp < order_ids.horizon_prefix
            or stamp > self._lead_prefix
            or len(order_id) != 36
            or order_id[14] != "7"
            or order_id[19] not in "89ab"
        ):
            return self._id_problem(command)
        seen = order_ids.buckets.get(order_id[:8])
        if seen is None or order_id not in seen:
            return None
        account = self.accounts.get(command.user_id)
        if account is not None and order_id in account.positions:
            message = "an order with this id is already open"
        elif account is not None and order_id in account.orders:
            message = "an order with this id is already pending"
        else:
            message = "an order with this id was opened before (order ids are never reused)"
        return _reject(order_id, command.user_id, RejectReason.DUPLICATE_REQUEST, message)

    def _id_problem(
        self, command: CreateOrder | CloseOrder | ResetAccount | Deposit
    ) -> CommandRejected:
        """Why an order id cannot be used: not time-ordered, too old to check, or ahead."""
        horizon_ms, window_us = self.order_ids.horizon_ms, self.config.order_id_window_us
        message = order_id_problem(command.request_id, horizon_ms, window_us)
        return _reject(command.request_id, command.user_id, RejectReason.INVALID_ORDER, message)

    def take_seq(self) -> int:
        """The next engine-wide sequence number (positions and pending orders share it)."""
        seq = self.next_seq
        if seq > MAX_SEQ:  # 2**48 orders: centuries at full speed, but never wrap silently
            raise OverflowError("order sequence exhausted")
        self.next_seq = seq + 1
        return seq

    def insufficient(
        self, request_id: str, user_id: str, margin: int, balance: int, what: str = "margin"
    ) -> CommandRejected:
        message = f"{what} {dollars(margin)} exceeds the free balance {dollars(balance)}"
        return _reject(request_id, user_id, RejectReason.INSUFFICIENT_BALANCE, message)

    def quote_problem(
        self, request_id: str, user_id: str, asset: str, ts_us: int
    ) -> CommandRejected:
        """Why the last quote of ``asset`` cannot be traded on (missing or stale)."""
        quote = self.quotes.get(asset)
        if quote is None:
            return _reject(request_id, user_id, RejectReason.NO_PRICE, f"no price yet for {asset}")
        age_ms = (ts_us - quote.ts_us) // 1000
        message = f"last {asset} price is {age_ms} ms old"
        return _reject(request_id, user_id, RejectReason.STALE_PRICE, message)

    def _close_by_user(self, command: CloseOrder) -> list[Event]:
        request_id, ts_us, user_id, order_id, qty, named_asset = command
        account = self.accounts.get(user_id)
        position = account.positions.get(order_id) if account is not None else None
        if account is None or position is None:
            # Never hint that the order exists for someone else.
            message = f"no open order {order_id!r}"
            return [_reject(request_id, user_id, RejectReason.ORDER_NOT_FOUND, message)]
        asset = position.asset
        quote = self.quotes.get(asset)
        if quote is None or ts_us - quote.ts_us > self.config.max_price_age_us:
            return [self.quote_problem(request_id, user_id, asset, ts_us)]
        price = quote.bid if position.side is _BUY else quote.ask
        if qty is not None or named_asset is not None:
            return manage.close_part(self, command, account, position, price)
        return [self.close(position, price, _USER, request_id, ts_us)]

    # -- state changes --------------------------------------------------------------------

    def index_position(
        self, position: Position, account: Account, extreme: int | None = None
    ) -> None:
        """Put an open position in its account and its books; a trailing stop starts at
        ``extreme`` (in the trailing book's units), by default at the current price."""
        account.positions[position.order_id] = position
        if account.reads is not None:
            account.reads.opened(position)
        self.open_by_seq[position.seq] = position
        profit, stop = self.books[position.asset].by_side[position.side]
        seq = position.seq
        if position.take_profit is not None:
            profit.add(position.take_profit, seq)
        stop_loss = position.stop_loss
        if stop_loss is None:
            stop.add(position.liquidation_price, seq)
        else:
            stop.add(stop_level(position), seq)
        distance = position.trailing_stop
        if distance is not None:
            if extreme is None:
                extreme = manage.trailing_x(position.side, self.quotes[position.asset])
            self.trailing[position.asset][position.side is not _BUY].add(seq, distance, extreme)

    def unindex_position(self, position: Position, account: Account) -> None:
        """Take an open position out of its account and its books (lazily: its keys die)."""
        del account.positions[position.order_id]
        if account.reads is not None:
            account.reads.closed(position)
        del self.open_by_seq[position.seq]
        is_open = self.open_by_seq.__contains__
        profit, stop = self.books[position.asset].by_side[position.side]
        if position.take_profit is not None:
            profit.removed(is_open)
        stop.removed(is_open)
        if position.trailing_stop is not None:
            self.trailing[position.asset][position.side is not _BUY].remove(position.seq)

    def close(
        self, position: Position, price: int, reason: CloseReason, request_id: str, ts_us: int
    ) -> PositionClosed:
        account = self.accounts[position.user_id]
        self.unindex_position(position, account)
        trade = self.settle(position, price, reason, ts_us, account=account)
        self.changes.closed(trade)
        return _new_tuple(PositionClosed, (request_id, trade, account.balance, None))

    def settle(
        self,
        position: Position,
        price: int,
        reason: CloseReason,
        ts_us: int,
        *,
        account: Account,
        trade_id: str | None = None,
    ) -> ClosedTrade:
        """Pay out a (whole or partly) closed position: margin + PnL (half-even), never
        less than 0, minus the close commission (never more than what is left)."""
        margin = position.margin
        contract = self.contracts[position.asset]
        pnl = contract.pnl(position, price)
        # Negative balance protection: never credit less than 0; the house absorbs the gap.
        paid = margin + pnl
        paid = max(paid, 0)
        fee = min(contract.commission(price, position.qty), paid)
        credit = paid - fee
        account.balance += credit
        account.locked -= margin
        self.house_cents += margin - credit
        return _new_tuple(
            ClosedTrade,
            (position, price, paid - margin, reason, ts_us, position.commission + fee, trade_id),
        )

    def drain_changes(self) -> ChangeSet:
        """Everything that changed since the previous call (for incremental persistence)."""
        accounts = self.accounts
        return self.changes.drain(
            lambda user_id: accounts[user_id].balance,
            lambda user_id: accounts[user_id].event_seq,
        )

    # -- queries --------------------------------------------------------------------------

    def unrealized_pnl(self, position: Position) -> int | None:
        """PnL in cents if the position were closed at the last quote; None without one."""
        return unrealized_pnl(position, self.contracts, self.quotes)

    def ledger_total(self) -> int:
        """Balances + locked margin + order margin + house result: equals ``deposits_cents``
        at all times."""
        accounts = self.accounts.values()
        held = sum(a.balance + a.locked + a.reserved for a in accounts)
        return held + self.house_cents


def _ignored(_command: object) -> list[Event]:
    """A feed report (``FeedNote``): for the other readers of the stream, not the engine."""
    return []


def _end_session(command: EndSession) -> list[Event]:
    """Passed through: the engine only orders it with everything else and announces it."""
    return [
        SessionEnded(command.request_id, command.user_id, command.token_id, command.expires_at_s)
    ]


def _reject(
    request_id: str, user_id: str | None, reason: RejectReason, message: str
) -> CommandRejected:
    return CommandRejected(request_id, user_id, reason, message)


__all__ = ["MAX_SEQ", "Account", "Engine", "EngineConfig", "Quote"]
