"""JSON numbers reach the engine exactly: never through a float, never rounded."""

from __future__ import annotations

import pytest

from tests.support.api import API, Stack

pytestmark = pytest.mark.integration


async def test_json_numbers_arrive_exactly(embedded: Stack) -> None:
    stack = embedded
    session = await stack.sign_in()
    await stack.publish_price("SOL_USDC", "150.00", "150.01")
    await stack.publish_price("ETH_USDC", "3500.00", "3500.10")
    cases = [
        # (raw JSON body, expected qty, margin, takeProfit, stopLoss)
        (b'{"asset": "SOL_USDC", "side": "buy", "qty": 0.1, "leverage": 1}',
         "0.10", "15.01", None, None),  # 150.01 x 0.1 = 15.001, up to the cent
        (b'{"asset": "SOL_USDC", "side": "buy", "qty": 0.3, "leverage": 3}',
         "0.30", "15.01", None, None),  # 45.003 / 3 = 15.001
        (b'{"asset": "SOL_USDC", "side": "sell", "qty": 1.10, "leverage": 2,'
         b' "takeProfit": 140.07, "stopLoss": 1.6e2}',
         "1.10", "82.50", "140.07", "160.00"),  # 150.00 x 1.1 / 2 = 82.5
        (b'{"asset": "ETH_USDC", "side": "buy", "qty": 0.0003, "leverage": 1,'
         b' "price": 3500.1, "slippage": 5}',
         "0.0003", "1.06", None, None),  # 3500.10 x 0.0003 = 1.05003
    ]  # fmt: skip
    for content, qty, margin, take_profit, stop_loss in cases:
        response = await stack.client.post(
            f"{API}/trade/create-order",
            content=content,
            headers=session.auth | {"Content-Type": "application/json"},
        )
        assert response.status_code == 200, (content, response.text)
        order = response.json()
        assert (order["qty"], order["margin"]) == (qty, margin), content
        assert (order["takeProfit"], order["stopLoss"]) == (take_profit, stop_loss), content
    slipped = [o for o in await stack.open_orders(session) if o["asset"] == "ETH_USDC"]
    assert [o["slippage"] for o in slipped] == [5]
    balance = await stack.balance(session)
    assert balance["lockedMargin"] == "113.58"  # 15.01 + 15.01 + 82.50 + 1.06
