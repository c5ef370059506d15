"""Recently closed trades, kept from the callbacks until their rows are surely written."""

from __future__ import annotations

from typing import Any

from tradepro.api.recent import RecentCloses
from tradepro.protocol.render import iso_time

ALICE = "7d0f3c52-1b8e-4e43-9a51-3c3b8e2f0d11"
BOB = "0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"
CLOSED_US = 1_750_000_000_123_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def closed(user_id: str, order_id: str, status: str = "closed") -> dict[str, Any]:
    order = {"orderId": order_id, "closedAt": iso_time(CLOSED_US), "pnl": "1.00"}
    return {"id": "r", "status": status, "userId": user_id, "order": order, "closedUs": CLOSED_US}


def test_closed_callbacks_are_kept_per_user_for_a_while() -> None:
    clock = Clock()
    recent = RecentCloses(keep_s=30, clock=clock)
    recent.see(closed(ALICE, "a1"))
    recent.see(closed(BOB, "b1"))
    recent.see(closed(ALICE, "a2", status="created"))  # not a close
    recent.see({"status": "closed", "userId": ALICE})  # no order: ignored, never raises
    recent.see({"status": "closed", "order": "x"})
    recent.see(closed(BOB, "b2") | {"closedUs": "soon"})

    assert [(us, order["orderId"]) for us, order in recent.of(ALICE)] == [(CLOSED_US, "a1")]
    assert [order["orderId"] for _, order in recent.of(BOB)] == ["b1"]
    clock.now += 29.9
    assert len(recent.of(ALICE)) == 1
    clock.now += 0.1
    assert recent.of(ALICE) == [] and recent.of(BOB) == []
    assert recent._by_user == {}  # nothing left behind


def test_at_most_max_trades_are_kept_oldest_first_out() -> None:
    recent = RecentCloses(max_trades=2, clock=Clock())
    for order_id in ("a1", "a2", "a3"):
        recent.see(closed(ALICE, order_id))
    assert sorted(order["orderId"] for _, order in recent.of(ALICE)) == ["a2", "a3"]
