"""A seeded stream of engine inputs for end-to-end tests and benchmarks.

Busy on purpose: prices walk within a narrow band so take-profits, stop-losses and margin
calls fire often; users close their own orders, try to close others', and send a few
malformed orders. Every id is a UUID drawn from the seed, so two runs are identical;
order ids are time-ordered (version 7) UUIDs made at ``made_ms`` (by default the wall
clock when the workload was built), since the engine refuses ids far from its clock.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tradepro.domain.order_ids import RANDOM_BITS, new_order_id

ASSETS = {"BTC_USDC": (1_000_000, 1), "ETH_USDC": (350_000, 2)}
"""asset -> (start price in ticks, price decimals)"""


@dataclass
class Workload:
    seed: int
    users: int = 20
    rng: random.Random = field(init=False)
    user_ids: list[str] = field(init=False)
    prices: dict[str, int] = field(init=False)
    orders: list[tuple[str, str]] = field(init=False, default_factory=list)
    made_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)
    pending: bool = False
    """Also place, amend and cancel limit and stop orders (some expiring within seconds)."""
    placed: list[tuple[str, str, str]] = field(init=False, default_factory=list)
    """(order id, owner, asset) of every limit or stop order sent."""
    manage: bool = False
    """Also trailing stops on orders, modify-order, partial closes (some replayed) and
    close-all."""
    parts: list[str] = field(init=False, default_factory=list)
    """Request ids of the partial closes sent (some are sent again)."""
    accounts: bool = False
    """Also deposits and account resets (a tenth of them replays of an earlier one)."""
    ledger_ids: list[str] = field(init=False, default_factory=list)
    """Request ids of the deposits and resets sent."""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.user_ids = [self.new_id() for _ in range(self.users)]
        self.prices = {asset: start for asset, (start, _) in ASSETS.items()}

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_order_id(self) -> str:
        return new_order_id(self.made_ms, self.rng.getrandbits(RANDOM_BITS))

    def opening(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Register every user and quote every asset."""
        entries = [("register-user", self.new_id(), {"userId": user}) for user in self.user_ids]
        return entries + [self.tick(asset) for asset in ASSETS]

    def tick(self, asset: str | None = None) -> tuple[str, str, dict[str, Any]]:
        asset = asset or self.rng.choice(list(ASSETS))
        start, decimals = ASSETS[asset]
        step = max(1, start // 2000)
        price = min(max(self.prices[asset] + self.rng.randint(-3, 3) * step, start // 2), start * 2)
        self.prices[asset] = price
        spread = self.rng.randint(1, 5)
        payload = {
            "asset": asset,
            "bid": _text(price, decimals),
            "ask": _text(price + spread, decimals),
        }
        return "price-update", self.new_id(), payload

    def step(self) -> tuple[str, str, dict[str, Any]]:
        if self.accounts and self.rng.random() < 0.03:
            return self.account_step()
        if self.pending and self.rng.random() < 0.3:
            return self.pending_step()
        if self.manage and self.orders and self.rng.random() < 0.25:
            return self.manage_step()
        roll = self.rng.random()
        if roll < 0.45:
            return self.tick()
        if roll < 0.80 or not self.orders:
            return self.create()
        if roll < 0.97:
            return self.close()
        return "create-order", self.new_order_id(), {"userId": self.rng.choice(self.user_ids),
                                               "asset": "BTC_USDC", "side": "buy",
                                               "qty": "0.000001", "leverage": 5}  # fmt: skip

    def create(self) -> tuple[str, str, dict[str, Any]]:
        rng = self.rng
        asset = rng.choice(list(ASSETS))
        _, decimals = ASSETS[asset]
        price = self.prices[asset]
        side = rng.choice(("buy", "sell"))
        user = rng.choice(self.user_ids)
        payload: dict[str, Any] = {
            "userId": user,
            "asset": asset,
            "side": side,
            "qty": "0.01" if asset == "BTC_USDC" else "0.1",
            "leverage": rng.choice((1, 5, 20, 50, 100)),
        }
        direction = 1 if side == "buy" else -1
        if rng.random() < 0.5:
            payload["takeProfit"] = _text(
                price + direction * rng.randint(2, 40) * (price // 2000), decimals
            )
        if rng.random() < 0.5:
            payload["stopLoss"] = _text(
                price - direction * rng.randint(2, 40) * (price // 2000), decimals
            )
        if self.manage and rng.random() < 0.4:
            payload["trailingStop"] = _text(rng.randint(2, 30) * (price // 2000), decimals)
        order_id = self.new_order_id()
        self.orders.append((order_id, user))
        return "create-order", order_id, payload

    def manage_step(self) -> tuple[str, str, dict[str, Any]]:
        """A modify, a partial close (a tenth of them replays), or a close-all."""
        rng = self.rng
        order_id, owner = rng.choice(self.orders[-30:])
        user = owner if rng.random() < 0.9 else rng.choice(self.user_ids)
        roll = rng.random()
        if roll < 0.1:
            return "close-all", self.new_id(), {"userId": user}
        if roll < 0.55:
            if self.parts and rng.random() < 0.1:
                request_id = rng.choice(self.parts)
            else:
                request_id = self.new_order_id()
                self.parts.append(request_id)
            asset = rng.choice(list(ASSETS))  # the wrong one is refused
            qty = "0.003" if asset == "BTC_USDC" else "0.03"
            payload = {"userId": user, "orderId": order_id, "asset": asset, "qty": qty}
            return "close-order", request_id, payload
        asset = rng.choice(list(ASSETS))
        _, decimals = ASSETS[asset]
        price = self.prices[asset]
        payload = {"userId": user, "orderId": order_id, "asset": asset}
        name = rng.choice(("takeProfit", "stopLoss", "trailingStop"))
        if rng.random() < 0.3:
            payload[name] = None
        else:
            distance = rng.randint(2, 40) * (price // 2000)
            payload[name] = _text(price + rng.choice((-1, 1)) * distance, decimals)
            if name == "trailingStop":
                payload[name] = _text(distance, decimals)
        return "modify-order", self.new_id(), payload

    def pending_step(self) -> tuple[str, str, dict[str, Any]]:
        roll = self.rng.random()
        if roll < 0.6 or not self.placed:
            return self.place()
        order_id, owner, asset = self.rng.choice(self.placed)
        user = owner if self.rng.random() < 0.9 else self.rng.choice(self.user_ids)
        if roll < 0.8:
            return "cancel-order", self.new_id(), {"userId": user, "orderId": order_id}
        _, decimals = ASSETS[asset]
        price = self.prices[asset] + self.rng.randint(-20, 20) * (self.prices[asset] // 2000)
        payload = {"userId": user, "orderId": order_id, "asset": asset,
                   "limitPrice": _text(price, decimals)}  # fmt: skip
        return "amend-order", self.new_id(), payload

    def place(self) -> tuple[str, str, dict[str, Any]]:
        """A limit or stop order a few steps from the market, either side (the wrong side
        is refused), sometimes expiring within seconds of the workload's time."""
        kind, order_id, payload = self.create()
        self.orders.pop()  # not a position (unless it fills: then closes may name it)
        asset = payload["asset"]
        _, decimals = ASSETS[asset]
        price = self.prices[asset] + self.rng.randint(-20, 20) * (self.prices[asset] // 2000)
        order_type = self.rng.choice(("limit", "stop"))
        field_name = "limitPrice" if order_type == "limit" else "stopPrice"
        payload |= {"type": order_type, field_name: _text(price, decimals)}
        if self.rng.random() < 0.3:
            payload["expiresUs"] = (self.made_ms + self.rng.randint(0, 20_000)) * 1000
        self.placed.append((order_id, payload["userId"], asset))
        if self.rng.random() < 0.5:
            self.orders.append((order_id, payload["userId"]))
        return kind, order_id, payload

    def account_step(self) -> tuple[str, str, dict[str, Any]]:
        """A deposit or a reset (to the starting balance or another), sometimes replayed."""
        rng = self.rng
        user = rng.choice(self.user_ids)
        if self.ledger_ids and rng.random() < 0.1:
            request_id = rng.choice(self.ledger_ids)
        else:
            request_id = self.new_order_id()
            self.ledger_ids.append(request_id)
        if rng.random() < 0.6:
            amount = f"{rng.randint(1, 300_000) // 100}.{rng.randint(0, 99):02d}"
            return "deposit", request_id, {"userId": user, "amount": amount}
        payload: dict[str, Any] = {"userId": user}
        if rng.random() < 0.5:
            payload["balance"] = f"{rng.randint(0, 20_000)}.{rng.randint(0, 99):02d}"
        return "reset-account", request_id, payload

    def close(self) -> tuple[str, str, dict[str, Any]]:
        order_id, owner = self.rng.choice(self.orders)
        user = owner if self.rng.random() < 0.9 else self.rng.choice(self.user_ids)
        return "close-order", self.new_id(), {"userId": user, "orderId": order_id}


def _text(ticks: int, decimals: int) -> str:
    digits = str(ticks).rjust(decimals + 1, "0")
    return f"{digits[:-decimals]}.{digits[-decimals:]}"
