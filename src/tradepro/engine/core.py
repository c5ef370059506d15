"""The engine: the single writer of balances and positions.

``Engine.apply(command)`` is pure and synchronous: the same commands in the same order give
the same events and the same state, whatever the machine or the wall clock. Ledger rule:
sum(balances) + sum(locked margin) + house result == deposits, always.
"""

from __future__ import annotations

from collections.abc import Callable

from tradepro.domain.commands import (
    CloseOrder,
    Command,
    CreateOrder,
    EndSession,
    FeedNote,
    RegisterUser,
    ReportAccount,
    UpdatePrice,
)
from tradepro.domain.events import (
    AccountReported,
    ClosedTrade,
    CommandRejected,
    Event,
    PositionClosed,
    PositionOpened,
    SessionEnded,
    UserRegistered,
)
from tradepro.domain.fixed import USD_DECIMALS, format_scaled
from tradepro.domain.order_ids import order_id_time_ms
from tradepro.domain.orders import CloseReason, RejectReason, Side
from tradepro.domain.positions import (
    Contract,
    Position,
    stop_level,
    trigger_reason,
)
from tradepro.engine.books import MAX_SEQ, AssetBooks
from tradepro.engine.changes import ChangeLog, ChangeSet
from tradepro.engine.order_window import OrderIdWindow, time_prefix
from tradepro.engine.reads import PAGE_MAX, reads_of, unrealized_pnl
from tradepro.engine.state import Account, EngineConfig, Quote
from tradepro.engine.validation import MAX_ID_LENGTH, levels_problem, order_shape_problem, slipped

# Module globals for the hot path: enum attribute lookups cost ~150 ns each on 3.11, and
# building a NamedTuple through tuple.__new__ skips the generated __new__'s Python frame.
_BUY = Side.BUY
_USER = CloseReason.USER
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
        self.next_seq = 1
        self.house_cents = 0
        """The house's realized result: the opposite of every PnL paid out."""
        self.deposits_cents = 0
        self.order_ids = OrderIdWindow()
        """Every order id opened at or after its horizon (ids before it are refused)."""
        self._window_ms = self.config.order_id_window_us // 1000
        self._lead_ms = self.config.order_id_lead_us // 1000
        self._id_clock_ms = -1
        """The entry time (ms) of the last create: ``_lead_prefix`` is computed for it."""
        self._lead_prefix = ""
        """``time_prefix`` of the latest time an order id may have (``_id_clock_ms`` + lead)."""
        self.changes = ChangeLog()
        self._handlers: dict[type, Callable[[object], list[Event]]] = {
            RegisterUser: self._register,  # type: ignore[dict-item]
            UpdatePrice: self._update_price,  # type: ignore[dict-item]
            CreateOrder: self._create,  # type: ignore[dict-item]
            CloseOrder: self._close_by_user,  # type: ignore[dict-item]
            ReportAccount: self._report,  # type: ignore[dict-item]
            EndSession: _end_session,  # type: ignore[dict-item]
            FeedNote: _ignored,
        }

    # -- commands -------------------------------------------------------------------------

    def apply(self, command: Command) -> list[Event]:
        """Apply one command; return what happened, rejections included."""
        return self._handlers[type(command)](command)

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
        fired = [
            *books.buy_profit.pop_through(bid, is_open),
            *books.buy_stop.pop_through(bid, is_open),
            *books.sell_profit.pop_through(ask, is_open),
            *books.sell_stop.pop_through(ask, is_open),
        ]
        if not fired:
            return []
        fired.sort()
        events: list[Event] = []
        open_by_seq = self.open_by_seq
        for seq in fired:
            position = open_by_seq[seq]
            price = bid if position.side is _BUY else ask
            reason = trigger_reason(position, price)
            events.append(self._close(position, price, reason, command.request_id, command.ts_us))
        return events

    def _create(self, command: CreateOrder) -> list[Event]:
        request_id, user_id = command.request_id, command.user_id
        id_problem = self._admit_order_id(command)
        if id_problem is not None:
            return [id_problem]
        account = self.accounts.get(user_id)
        if account is None:
            return [_reject(request_id, user_id, RejectReason.UNKNOWN_USER, "unknown user")]
        asset = command.asset
        contract = self.contracts.get(asset)
        problem = order_shape_problem(command, contract)
        if problem is not None:
            return [_reject(request_id, user_id, RejectReason.INVALID_ORDER, problem)]
        quote = self.quotes.get(asset)
        if quote is None or command.ts_us - quote.ts_us > self.config.max_price_age_us:
            return [self._quote_problem(request_id, user_id, asset, command.ts_us)]
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
        if margin > account.balance:
            return [_insufficient(request_id, user_id, margin, account.balance)]
        seq = self.next_seq
        if seq > MAX_SEQ:  # 2**48 orders: centuries at full speed, but never wrap silently
            raise OverflowError("order sequence exhausted")
        self.next_seq = seq + 1
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
            ),
        )
        account.balance -= margin
        account.locked += margin
        self.order_ids.add(request_id)
        self._index(position, account)
        self.changes.opened(position)
        return [_new_tuple(PositionOpened, (request_id, position, account.balance))]

    def _admit_order_id(self, command: CreateOrder) -> CommandRejected | None:
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
        else:
            message = "an order with this id was opened before (order ids are never reused)"
        return _reject(order_id, command.user_id, RejectReason.DUPLICATE_REQUEST, message)

    def _id_problem(self, command: CreateOrder) -> CommandRejected:
        """Why an order id cannot be used: not time-ordered, too old to check, or ahead."""
        id_ms = order_id_time_ms(command.request_id)
        if id_ms < 0:
            message = "order id must be a time-ordered UUID (version 7)"
        elif id_ms < self.order_ids.horizon_ms:
            hours = self.config.order_id_window_us / 3_600_000_000
            message = f"order id was made more than {hours:g} h before this order"
        else:
            message = "order id was made in the future (check the sender's clock)"
        return _reject(command.request_id, command.user_id, RejectReason.INVALID_ORDER, message)

    def _quote_problem(
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
        request_id, user_id = command.request_id, command.user_id
        account = self.accounts.get(user_id)
        position = account.positions.get(command.order_id) if account is not None else None
        if position is None:
            # Never hint that the order exists for someone else.
            message = f"no open order {command.order_id!r}"
            return [_reject(request_id, user_id, RejectReason.ORDER_NOT_FOUND, message)]
        asset = position.asset
        quote = self.quotes.get(asset)
        if quote is None or command.ts_us - quote.ts_us > self.config.max_price_age_us:
            return [self._quote_problem(request_id, user_id, asset, command.ts_us)]
        price = quote.bid if position.side is _BUY else quote.ask
        return [self._close(position, price, _USER, request_id, command.ts_us)]

    def _report(self, command: ReportAccount) -> list[Event]:
        """A read: totals from the account's running sums, and at most one page of its
        positions (``engine.reads``), never a pass over all of them."""
        account = self.accounts.get(command.user_id)
        if account is None:
            message = "unknown user"
            return [
                _reject(command.request_id, command.user_id, RejectReason.UNKNOWN_USER, message)
            ]
        reads = reads_of(account)
        listed: list[Position] = []
        next_cursor = None
        if command.order_id is not None:
            one = account.positions.get(command.order_id)
            listed = [] if one is None else [one]
        elif command.orders:
            limit = min(max(command.limit, 1), PAGE_MAX)
            listed, next_cursor = reads.page(account.positions, command.after, limit)
        valued = tuple((position, self.unrealized_pnl(position)) for position in listed)
        return [
            AccountReported(
                command.request_id,
                command.user_id,
                account.balance,
                account.locked,
                valued,
                command.orders or command.order_id is not None,
                reads.unrealized(self.contracts, self.quotes),
                next_cursor,
            )
        ]

    # -- state changes --------------------------------------------------------------------

    def _index(self, position: Position, account: Account) -> None:
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

    def _close(
        self, position: Position, price: int, reason: CloseReason, request_id: str, ts_us: int
    ) -> PositionClosed:
        margin = position.margin
        pnl = self.contracts[position.asset].pnl(position, price)
        # Negative balance protection: never credit less than 0; the house absorbs the gap.
        credit = margin + pnl
        credit = max(credit, 0)
        account = self.accounts[position.user_id]
        account.balance += credit
        account.locked -= margin
        self.house_cents += margin - credit
        del account.positions[position.order_id]
        if account.reads is not None:
            account.reads.closed(position)
        del self.open_by_seq[position.seq]
        is_open = self.open_by_seq.__contains__
        profit, stop = self.books[position.asset].by_side[position.side]
        if position.take_profit is not None:
            profit.removed(is_open)
        stop.removed(is_open)
        trade: ClosedTrade = _new_tuple(
            ClosedTrade, (position, price, credit - margin, reason, ts_us)
        )
        self.changes.closed(trade)
        return _new_tuple(PositionClosed, (request_id, trade, account.balance))

    def drain_changes(self) -> ChangeSet:
        """Everything that changed since the previous call (for incremental persistence)."""
        return self.changes.drain(lambda user_id: self.accounts[user_id].balance)

    # -- queries --------------------------------------------------------------------------

    def unrealized_pnl(self, position: Position) -> int | None:
        """PnL in cents if the position were closed at the last quote; None without one."""
        return unrealized_pnl(position, self.contracts, self.quotes)

    def ledger_total(self) -> int:
        """Balances + locked margin + house result: equals ``deposits_cents`` at all times."""
        accounts = self.accounts.values()
        return sum(a.balance for a in accounts) + sum(a.locked for a in accounts) + self.house_cents


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


def _insufficient(request_id: str, user_id: str, margin: int, balance: int) -> CommandRejected:
    message = f"margin {_dollars(margin)} exceeds the free balance {_dollars(balance)}"
    return _reject(request_id, user_id, RejectReason.INSUFFICIENT_BALANCE, message)


def _dollars(cents: int) -> str:
    """Cents (never negative here) as "$95,780,400.00": grouped as the UI shows money."""
    whole, fraction = format_scaled(cents, USD_DECIMALS).split(".")
    return f"${int(whole):,}.{fraction}"


__all__ = ["MAX_SEQ", "Account", "Engine", "EngineConfig", "Quote"]
