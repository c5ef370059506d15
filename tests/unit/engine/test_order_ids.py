"""An order id opens at most one position, ever, while memory holds one window of ids."""

from __future__ import annotations

import uuid

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.desk import BTC, Desk, rejected
from tradepro.domain.commands import CreateOrder
from tradepro.domain.events import PositionOpened
from tradepro.domain.order_ids import new_order_id, order_id_time_ms
from tradepro.domain.orders import RejectReason, Side
from tradepro.engine import EngineConfig
from tradepro.engine.order_window import BUCKET_MS, OrderIdWindow
from tradepro.engine.snapshot import restore_snapshot, take_snapshot

HOUR_US = 3600 * 1_000_000
WINDOW_US = 2 * HOUR_US
LEAD_US = 60 * 1_000_000
CONFIG = EngineConfig(order_id_window_us=WINDOW_US, order_id_lead_us=LEAD_US)


def create(desk: Desk, order_id: str, user: str = "alice", after_us: int = 1) -> object:
    desk.now_us += after_us
    command = CreateOrder(order_id, desk.now_us, user, BTC, Side.BUY, 100, 10)
    [event] = desk.engine.apply(command)
    return event


def quoted_desk() -> Desk:
    desk = Desk(CONFIG)
    desk.tick(1_000_000, 1_000_005)
    return desk


def test_the_id_format_round_trips_its_time() -> None:
    order_id = new_order_id(1_780_000_000_123, 2**74 - 1)
    parsed = uuid.UUID(order_id)
    assert (parsed.version, str(parsed)) == (7, order_id)
    assert order_id_time_ms(order_id) == 1_780_000_000_123 == parsed.int >> 80
    assert order_id_time_ms(str(uuid.UUID(int=parsed.int, version=4))) == -1
    assert order_id_time_ms(order_id.upper()) == -1
    assert order_id_time_ms("o1") == -1


def test_an_id_is_refused_after_its_position_closed() -> None:
    desk = quoted_desk()
    order_id = desk.next_id()
    assert isinstance(create(desk, order_id), PositionOpened)
    desk.close(order_id)
    assert not desk.engine.accounts["alice"].positions
    again = create(desk, order_id)
    rejected(again, RejectReason.DUPLICATE_REQUEST)
    rejected(create(desk, order_id, user="bob"), RejectReason.DUPLICATE_REQUEST)
    assert not desk.engine.accounts["alice"].positions


def test_an_id_stays_refused_across_snapshot_and_restore() -> None:
    desk = quoted_desk()
    closed_id, open_id = desk.next_id(), desk.next_id()
    create(desk, closed_id)
    create(desk, open_id)
    desk.close(closed_id)
    snapshot = orjson.loads(orjson.dumps(take_snapshot(desk.engine)))
    desk.engine = restore_snapshot(snapshot, CONFIG)
    rejected(create(desk, closed_id), RejectReason.DUPLICATE_REQUEST)
    rejected(create(desk, open_id), RejectReason.DUPLICATE_REQUEST)
    assert isinstance(create(desk, desk.next_id()), PositionOpened)


def test_ids_older_than_the_window_are_refused_and_forgotten() -> None:
    desk = quoted_desk()
    old_id = desk.next_id()
    create(desk, old_id)
    desk.close(old_id)
    assert old_id in desk.engine.order_ids
    desk.now_us += WINDOW_US + BUCKET_MS * 1000
    desk.tick(1_000_000, 1_000_005)
    fresh = desk.next_id()
    assert isinstance(create(desk, fresh), PositionOpened)
    # Forgotten (memory is bounded), yet still refused: it is older than the horizon.
    assert old_id not in desk.engine.order_ids
    assert len(desk.engine.order_ids) == 1
    event = create(desk, old_id)
    rejected(event, RejectReason.INVALID_ORDER)
    assert "more than 2 h" in str(event)


def test_the_horizon_edge_and_the_lead() -> None:
    desk = quoted_desk()
    now_ms = (desk.now_us + 1) // 1000
    at_horizon = new_order_id(now_ms - WINDOW_US // 1000, 1)
    assert isinstance(create(desk, at_horizon, after_us=1), PositionOpened)
    before_horizon = new_order_id(desk.now_us // 1000 - WINDOW_US // 1000 - 1, 2)
    rejected(create(desk, before_horizon, after_us=0), RejectReason.INVALID_ORDER)
    at_lead = new_order_id(desk.now_us // 1000 + LEAD_US // 1000, 3)
    assert isinstance(create(desk, at_lead, after_us=0), PositionOpened)
    past_lead = new_order_id(desk.now_us // 1000 + LEAD_US // 1000 + 1, 4)
    rejected(create(desk, past_lead, after_us=0), RejectReason.INVALID_ORDER)


@pytest.mark.parametrize("order_id", ["00000000-0000-4000-8000-0000000000a1", "o1", ""])
def test_an_id_that_is_not_time_ordered_is_refused(order_id: str) -> None:
    desk = quoted_desk()
    rejected(create(desk, order_id), RejectReason.INVALID_ORDER)


def test_a_version_1_snapshot_restores_with_an_empty_window() -> None:
    desk = quoted_desk()
    create(desk, desk.next_id())
    snapshot = take_snapshot(desk.engine)
    del snapshot["orderIds"], snapshot["orderIdHorizonMs"]
    restored = restore_snapshot(snapshot | {"version": 1}, CONFIG)
    assert len(restored.order_ids) == 0
    assert restored.open_by_seq == desk.engine.open_by_seq


@given(
    offsets_ms=st.lists(st.integers(-2 * BUCKET_MS, 3 * BUCKET_MS), max_size=60),
    chunk=st.integers(1, 7),
    seeds=st.lists(st.integers(0, 3), max_size=60),
)
def test_a_window_keeps_runs_of_ids_as_it_keeps_each_id(
    offsets_ms: list[int], chunk: int, seeds: list[int]
) -> None:
    """``keep`` takes a run of one bucket's ids at once; the result is the id-by-id rule:
    an id at or after the horizon is remembered once (a repeat gets the first string), one
    before it is handed back and not remembered, and no bucket is made for nothing."""
    horizon_ms = 5 * BUCKET_MS + BUCKET_MS // 2  # the horizon's bucket straddles it
    order_ids = [
        new_order_id(horizon_ms + offset, seeds[n % len(seeds)] if seeds else 0)
        for n, offset in enumerate(offsets_ms)
    ]
    window = OrderIdWindow(horizon_ms)
    kept = [
        kept_id
        for start in range(0, len(order_ids), chunk)
        for kept_id in window.keep(order_ids[start : start + chunk])
    ]
    first: dict[str, str] = {}
    for order_id in order_ids:
        if order_id_time_ms(order_id) >= horizon_ms:
            first.setdefault(order_id, order_id)
    assert kept == [first.get(order_id, order_id) for order_id in order_ids]
    assert all(a is first[a] for a in kept if a in first)
    assert sorted(window.ids()) == sorted(first)
    assert len(window) == len(first)
    assert all(window.buckets.values())
