"""get-open-orders in pages: oldest first by order id, ``nextCursor`` to go on; balance/me
agrees with the documented rounding (once per asset), on both stacks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.api import API, Stack

pytestmark = pytest.mark.integration


async def test_pages_list_every_open_order_once_oldest_first(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("SOL_USDC", "150.00", "150.02")
    made = []
    for n in range(7):
        order = {"asset": "SOL_USDC", "side": "buy" if n % 2 else "sell", "qty": "1.03"}
        created = await stack.create_order(session, leverage=5, **order)
        assert created.status_code == 200, created.text
        made.append(created.json()["orderId"])
    seen: list[dict[str, object]] = []
    params: dict[str, object] = {"limit": 3}
    while True:
        response = await stack.client.get(
            f"{API}/trade/get-open-orders", params=params, headers=session.auth
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"orders", "nextCursor"} and len(page["orders"]) <= 3
        seen += page["orders"]
        if page["nextCursor"] is None:
            break
        params = {"limit": 3, "cursor": page["nextCursor"]}
    assert [order["orderId"] for order in seen] == sorted(made)
    # The default page holds them all, with no cursor.
    everything = await stack.client.get(f"{API}/trade/get-open-orders", headers=session.auth)
    assert everything.json()["nextCursor"] is None and len(everything.json()["orders"]) == 7

    # Equity: balance + locked + the exact sum of the PnLs rounded once (one asset here).
    await stack.publish_price("SOL_USDC", "150.05", "150.07")
    balance = await stack.balance(session)
    exact = sum(
        (Decimal("150.05") - Decimal(order["openPrice"])) * Decimal(order["qty"])
        if order["side"] == "buy"
        else (Decimal(order["openPrice"]) - Decimal("150.07")) * Decimal(order["qty"])
        for order in seen
    )
    expected = Decimal(balance["balance"]) + Decimal(balance["lockedMargin"])
    expected += exact.quantize(Decimal("0.01"))  # half-even, Decimal's default
    assert Decimal(balance["equity"]) == expected
