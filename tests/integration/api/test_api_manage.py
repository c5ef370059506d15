"""Managing open positions over HTTP on Redis + PostgreSQL and on the embedded default:
modify take-profit / stop-loss / trailing stop, partial close, close-all, a trailing stop
fired by the feed, the closed trades in get-close-orders; bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import API, Session, Stack, assert_error
from tests.support.stack import eventually

pytestmark = pytest.mark.integration


async def post(stack: Stack, session: Session, route: str, body: Any) -> httpx.Response:
    return await stack.client.post(f"{API}/trade/{route}", json=body, headers=session.auth)


async def test_modify_partial_close_close_all_and_the_history(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    opened = await stack.create_order(session, qty="0.01001", leverage=7, trailingStop="500")
    assert opened.status_code == 200, opened.text
    order = opened.json()
    assert order["trailingStop"] == "500.0" and order["commission"] == "0.00"
    order_id = order["orderId"]
    [listed] = await stack.open_orders(session)
    assert listed["trailingStopPrice"] == "99500.0"  # the bid at open - 500

    # Modify: set a take-profit and a stop-loss, then clear the stop-loss.
    modified = await post(
        stack, session, "modify-order",
        {"orderId": order_id, "takeProfit": "101000", "stopLoss": "99000"},
    )  # fmt: skip
    assert modified.status_code == 200, modified.text
    body = modified.json()
    assert (body["takeProfit"], body["stopLoss"], body["trailingStopPrice"]) == (
        "101000.0", "99000.0", "99500.0",
    )  # fmt: skip
    cleared = await post(stack, session, "modify-order", {"orderId": order_id, "stopLoss": None})
    assert cleared.status_code == 200 and cleared.json()["stopLoss"] is None
    reached = await post(
        stack, session, "modify-order", {"orderId": order_id, "takeProfit": "99999"}
    )
    error = assert_error(reached, 400, "invalid_order")
    assert "takeProfit must be above the current bid" in error["message"]

    # Partial close: a third, at odd quantities.
    part = await post(stack, session, "close-order", {"orderId": order_id, "qty": "0.00333"})
    assert part.status_code == 200, part.text
    closed = part.json()
    assert (closed["closedQty"], closed["remainingQty"]) == ("0.00333", "0.00668")
    assert closed["tradeId"] != order_id and closed["orderId"] == order_id
    [rest] = await stack.open_orders(session)
    assert rest["qty"] == "0.00668" and rest["margin"] == "95.43"  # 100001 x 0.00668 / 7 up
    assert rest["takeProfit"] == "101000.0" and rest["trailingStopPrice"] == "99500.0"

    # Bad quantities: the open qty, more, finer than the step, another user's order.
    for qty, status, error_word in (
        ("0.00668", 400, "invalid_order"),
        ("1", 400, "invalid_order"),
        ("0.000001", 422, "validation_error"),
        ("-1", 422, "validation_error"),
    ):
        bad = await post(stack, session, "close-order", {"orderId": order_id, "qty": qty})
        assert_error(bad, status, error_word)
    other = await stack.sign_in()
    for route, payload in (
        ("close-order", {"orderId": order_id, "qty": "0.001"}),
        ("modify-order", {"orderId": order_id, "takeProfit": "200000"}),
    ):
        assert_error(await post(stack, other, route, payload), 404, "order_not_found")
    nothing = await post(stack, other, "close-all", {})
    assert nothing.status_code == 200 and nothing.json()["orders"] == []

    # Close all: the rest of it, and an ETH position of the same account.
    await stack.publish_price("ETH_USDC", "3000.00", "3000.10")
    eth = await stack.create_order(session, asset="ETH_USDC", qty="1", leverage=10)
    assert eth.status_code == 200, eth.text
    everything = await post(stack, session, "close-all", {})
    assert everything.status_code == 200, everything.text
    assert sorted(o["orderId"] for o in everything.json()["orders"]) == sorted(
        [order_id, eth.json()["orderId"]]
    )
    assert await stack.open_orders(session) == []
    balance = await stack.balance(session)
    assert balance["lockedMargin"] == "0.00"

    # The history: three trades, the partial one with its own id.
    async def three() -> bool:
        return len((await stack.closed_orders(session))["orders"]) == 3

    await eventually(three, 10, "three closed trades")
    trades = (await stack.closed_orders(session))["orders"]
    assert sorted(t["qty"] for t in trades) == ["0.00333", "0.00668", "1.0000"]
    assert {t["orderId"] for t in trades} == {order_id, eth.json()["orderId"]}
    assert len({t["tradeId"] for t in trades}) == 3
    assert all(t["commission"] == "0.00" for t in trades)


async def test_a_trailing_stop_follows_the_feed_and_fires(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("SOL_USDC", "100.00", "100.01")
    opened = await stack.create_order(
        session, asset="SOL_USDC", side="sell", qty="1", leverage=5, trailingStop="2"
    )
    assert opened.status_code == 200, opened.text
    await stack.publish_price("SOL_USDC", "97.99", "98.00")  # the lowest ask: level 100.00

    async def level_moved() -> bool:
        [position] = await stack.open_orders(session)
        return bool(position["trailingStopPrice"] == "100.00")

    await eventually(level_moved, 10, "the trailing level")
    await stack.publish_price("SOL_USDC", "99.99", "100.00")

    async def fired() -> bool:
        return await stack.open_orders(session) == []

    await eventually(fired, 10, "the trailing stop")

    async def recorded() -> bool:
        return len((await stack.closed_orders(session))["orders"]) == 1

    await eventually(recorded, 10, "the trade row")
    [trade] = (await stack.closed_orders(session))["orders"]
    assert (trade["reason"], trade["closePrice"]) == ("trailing_stop", "100.00")


async def test_bad_input_names_the_field(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    opened = await stack.create_order(session, qty="0.01", leverage=10)
    order_id = opened.json()["orderId"]
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("modify-order", {"orderId": order_id}, 422, "takeProfit"),
        ("modify-order", {"orderId": order_id, "stopLoss": "1.05"}, 422, "stopLoss"),
        ("modify-order", {"orderId": order_id, "trailingStop": "NaN"}, 422, "trailingStop"),
        ("modify-order", {"orderId": order_id, "trailingStop": "0"}, 422, "trailingStop"),
        ("modify-order", {"orderId": order_id, "takeProfit": {"a": 1}}, 422, "takeProfit"),
        ("close-all", {"asset": "NOPE_USD"}, 422, "asset"),
        ("close-order", {"orderId": order_id, "qty": "1e400"}, 422, "qty"),
    ]
    for route, body, status, word in cases:
        response = await post(stack, session, route, body)
        assert response.status_code == status, (route, body, response.text)
        assert word in response.text, (route, body, response.text)
    pending = await stack.create_order(
        session, type="limit", limitPrice="90000", qty="0.01", leverage=10, trailingStop="0"
    )
    assert_error(pending, 422, "validation_error")
    assert [o["orderId"] for o in await stack.open_orders(session)] == [order_id]
