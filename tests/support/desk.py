"""A hand-written factory for the pure engine's rule tests: an engine with users and a
clock that only moves forward, and small assertions on the events it returns."""

from __future__ import annotations

from typing import Any

from tradepro.domain.commands import (
    AmendOrder,
    CancelOrder,
    CloseAll,
    CloseOrder,
    CreateOrder,
    Deposit,
    ModifyOrder,
    RegisterUser,
    ResetAccount,
    UpdatePrice,
)
from tradepro.domain.events import (
    CommandRejected,
    Event,
    OrderPlaced,
    PositionClosed,
    PositionOpened,
)
from tradepro.domain.order_ids import new_order_id
from tradepro.domain.orders import OrderType, RejectReason, Side
from tradepro.engine import Engine, EngineConfig

BTC = "BTC_USDC"  # price tick 0.1, qty lot 0.00001
START = 500_000  # $5,000.00
START_US = 1_780_000_000_000_000
"""The desk's first entry time (2026): order ids carry real times."""


class Desk:
    """A hand-written factory: an engine with users and a clock that only moves forward."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.engine = Engine(config)
        self.now_us = START_US
        self.counter = 0
        for user in ("alice", "bob"):
            self.engine.apply(RegisterUser(self.next_id(), self.now_us, user))

    def next_id(self) -> str:
        """A fresh correlation id, made now: a time-ordered UUID, as order ids must be."""
        self.counter += 1
        return new_order_id(self.now_us // 1000, self.counter)

    def tick(self, bid: int, ask: int, asset: str = BTC, after_us: int = 1) -> list[Event]:
        self.now_us += after_us
        return self.engine.apply(UpdatePrice(self.next_id(), self.now_us, asset, bid, ask))

    def order(
        self, side: Side = Side.BUY, qty: int = 1_000, leverage: int = 10, **kw: Any
    ) -> Event:
        self.now_us += kw.pop("after_us", 1)
        command = CreateOrder(
            self.next_id(), self.now_us, kw.pop("user", "alice"), kw.pop("asset", BTC),
            side, qty, leverage, **kw,
        )  # fmt: skip
        [event] = self.engine.apply(command)
        return event

    def opened(self, side: Side = Side.BUY, **kw: Any) -> PositionOpened:
        event = self.order(side, **kw)
        assert isinstance(event, PositionOpened), event
        return event

    def close(self, order_id: str, user: str = "alice", after_us: int = 1) -> Event:
        self.now_us += after_us
        [event] = self.engine.apply(CloseOrder(self.next_id(), self.now_us, user, order_id))
        return event

    def close_part(
        self, order_id: str, qty: int | None, user: str = "alice", request_id: str | None = None
    ) -> Event:
        """A close-order with ``qty`` (a partial close); ``request_id`` replays one."""
        self.now_us += 1
        request_id = request_id or self.next_id()
        command = CloseOrder(request_id, self.now_us, user, order_id, qty)
        [event] = self.engine.apply(command)
        return event

    def modify(self, order_id: str, user: str = "alice", **kw: Any) -> Event:
        """A modify-order setting (or, with None, clearing) the named levels."""
        self.now_us += 1
        command = ModifyOrder(self.next_id(), self.now_us, user, order_id, frozenset(kw), **kw)
        [event] = self.engine.apply(command)
        return event

    def close_all(self, user: str = "alice", asset: str | None = None) -> list[Event]:
        self.now_us += 1
        return self.engine.apply(CloseAll(self.next_id(), self.now_us, user, asset))

    def reset(
        self, balance: int | None = None, user: str = "alice", request_id: str | None = None
    ) -> list[Event]:
        """A reset-account (``request_id`` replays one)."""
        self.now_us += 1
        command = ResetAccount(request_id or self.next_id(), self.now_us, user, balance)
        return self.engine.apply(command)

    def deposit(
        self, amount: int, user: str = "alice", request_id: str | None = None, after_us: int = 1
    ) -> Event:
        """A deposit (``request_id`` replays one); returns its one event."""
        self.now_us += after_us
        [event] = self.engine.apply(
            Deposit(request_id or self.next_id(), self.now_us, user, amount)
        )
        return event

    def balance(self, user: str = "alice") -> int:
        return self.engine.accounts[user].balance

    def reserved(self, user: str = "alice") -> int:
        return self.engine.accounts[user].reserved

    def pend(
        self,
        side: Side,
        order_type: OrderType,
        price: int,
        qty: int = 1_000,
        leverage: int = 10,
        **kw: Any,
    ) -> Event:
        """Place a limit or stop order; returns its one event."""
        return self.order(side, qty, leverage, order_type=order_type, trigger_price=price, **kw)

    def placed(self, side: Side, order_type: OrderType, price: int, **kw: Any) -> OrderPlaced:
        event = self.pend(side, order_type, price, **kw)
        assert isinstance(event, OrderPlaced), event
        return event

    def cancel(self, order_id: str, user: str = "alice", after_us: int = 1) -> Event:
        self.now_us += after_us
        [event] = self.engine.apply(CancelOrder(self.next_id(), self.now_us, user, order_id))
        return event

    def amend(self, order_id: str, user: str = "alice", after_us: int = 1, **kw: Any) -> Event:
        self.now_us += after_us
        command = AmendOrder(self.next_id(), self.now_us, user, order_id, frozenset(kw), **kw)
        [event] = self.engine.apply(command)
        return event

    def ledger_holds(self) -> None:
        """Balances + locked + reserved + house == deposits, and nothing is negative."""
        engine = self.engine
        assert engine.ledger_total() == engine.deposits_cents
        for account in engine.accounts.values():
            assert account.balance >= 0 and account.locked >= 0 and account.reserved >= 0
            assert account.reserved == sum(order.reserved for order in account.orders.values())


def rejected(event: Event, reason: RejectReason) -> None:
    assert isinstance(event, CommandRejected), event
    assert event.reason is reason, event


def only_close(events: list[Event]) -> PositionClosed:
    [event] = events
    assert isinstance(event, PositionClosed), event
    return event
