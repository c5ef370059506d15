"""``GET /account/events``: the caller's order events after a seq, in order, in pages,
from the durable log; expired ones said so; on both stacks. And the log's retention."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import API, Session, Stack, assert_error
from tests.support.stack import eventually
from tradepro.db.account_events import EventRow, prune_events, read_events, record_events
from tradepro.db.bulk import BulkWriter

pytestmark = pytest.mark.integration

EVENTS = f"{API}/account/events"
DAY_US = 24 * 3600 * 1_000_000


async def events(stack: Stack, session: Session, **params: Any) -> dict[str, Any]:
    response = await stack.client.get(EVENTS, params=params, headers=session.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def open_and_close(stack: Stack, session: Session, pairs: int) -> list[tuple[str, str]]:
    """``pairs`` orders opened then closed: the events they make, in order."""
    happened = []
    for _ in range(pairs):
        opened = await stack.create_order(session)
        assert opened.status_code == 200, opened.text
        order_id = opened.json()["orderId"]
        assert (await stack.close_order(session, order_id)).status_code == 200
        happened += [("created", order_id), ("closed", order_id)]
    return happened


async def all_written(stack: Stack, session: Session, count: int) -> None:
    async def written() -> bool:
        return len((await events(stack, session, limit=500))["events"]) >= count

    await eventually(written, 15, f"{count} events in the log")


async def test_events_come_in_seq_order_in_pages_with_a_cursor(stack: Stack) -> None:
    me, other = await stack.sign_in(), await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100000.5")
    mine = await open_and_close(stack, me, 5)
    await open_and_close(stack, other, 2)
    await all_written(stack, me, 10)

    every = await events(stack, me)
    assert [(e["seq"], e["event"], e["order"]["orderId"]) for e in every["events"]] == [
        (seq, *event) for seq, event in enumerate(mine, start=1)
    ]
    assert every["nextCursor"] is None
    assert all(e["type"] == "order" for e in every["events"])
    closed = every["events"][1]
    assert closed["order"]["reason"] == "user" and closed["order"]["closePrice"] == "100000.0"

    pages, since = [], 0
    while since is not None:
        page = await events(stack, me, since=since, limit=3)
        pages.append([e["seq"] for e in page["events"]])
        since = page["nextCursor"]
    assert pages == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]
    assert (await events(stack, me, since=7))["events"] == every["events"][7:]
    assert (await events(stack, me, since=10))["events"] == []
    assert (await events(stack, me, since=10**9))["events"] == []  # ahead: nothing, no error
    assert [e["seq"] for e in (await events(stack, other))["events"]] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "-1"}, "since"),
        ({"since": "abc"}, "since"),
        ({"since": "1.5"}, "since"),
        ({"since": str(2**63)}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    embedded: Stack, params: dict[str, str], field: str
) -> None:
    me = await embedded.sign_in()
    response = await embedded.client.get(EVENTS, params=params, headers=me.auth)
    body = assert_error(response, 422, "validation_error")
    assert field in body["message"]


async def test_events_no_longer_kept_are_a_410_that_says_what_to_do(embedded: Stack) -> None:
    me = await embedded.sign_in()
    database = embedded.context.database
    rows = [EventRow(me.user_id, seq, "created", seq, f'{{"seq":{seq}}}') for seq in (5, 6)]
    async with database.begin() as connection:
        await record_events(BulkWriter(database.dialect), connection, rows)
    body = assert_error(await embedded.client.get(EVENTS, headers=me.auth), 410, "events_expired")
    assert "REST" in body["message"] and "seq 5" in body["message"]
    assert [e["seq"] for e in (await events(embedded, me, since=4))["events"]] == [5, 6]


async def test_retention_drops_old_events_but_keeps_each_users_latest(stack: Stack) -> None:
    me, other = await stack.sign_in(), await stack.sign_in()
    database = stack.context.database
    old, new = 1 * DAY_US, 10 * DAY_US
    rows = [
        EventRow(me.user_id, 1, "created", old, '{"seq":1}'),
        EventRow(me.user_id, 2, "closed", old, '{"seq":2}'),
        EventRow(me.user_id, 3, "created", new, '{"seq":3}'),
        EventRow(other.user_id, 1, "created", old, '{"seq":1}'),
        EventRow(other.user_id, 2, "closed", old, '{"seq":2}'),
    ]
    bulk = BulkWriter(database.dialect)
    async with database.begin() as connection:
        await record_events(bulk, connection, rows)
        await record_events(bulk, connection, rows)  # a replay writes nothing twice
        assert await prune_events(connection, new - 7 * DAY_US) == 3
    assert await read_events(database, me.user_id, 2, 10) == [(3, '{"seq":3}')]
    assert await read_events(database, other.user_id, 1, 10) == [(2, '{"seq":2}')]


async def test_deposits_and_resets_are_numbered_events_too(stack: Stack) -> None:
    me = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100000.5")
    opened = await stack.create_order(me)
    assert opened.status_code == 200, opened.text
    order_id = opened.json()["orderId"]
    for route, body in (("deposit", {"amount": "100.00"}), ("reset", {"balance": "2500.00"})):
        response = await stack.client.post(f"{API}/account/{route}", json=body, headers=me.auth)
        assert response.status_code == 200, response.text
    await all_written(stack, me, 4)
    got = (await events(stack, me))["events"]
    assert [(e["seq"], e["type"], e["event"]) for e in got] == [
        (1, "order", "created"),
        (2, "account", "deposit"),
        (3, "order", "closed"),
        (4, "account", "reset"),
    ]
    assert got[2]["order"]["orderId"] == order_id and got[2]["order"]["reason"] == "reset"
    deposit, reset = got[1], got[3]
    assert (deposit["amount"], deposit["depositAllowance"]) == ("100.00", "99900.00")
    assert (reset["balance"], reset["closed"], reset["canceled"]) == ("2500.00", 1, 0)
    assert (await events(stack, me, since=2))["events"] == got[2:]
