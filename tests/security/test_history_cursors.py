"""The history's cursor is the caller's input: refused by name when it is not one, and
only a position in the caller's own trades when it is (also one taken from another user).
"""

from __future__ import annotations

import pytest

from tests.support.api import API, Session, Stack, assert_error

pytestmark = pytest.mark.integration

ORDER_ID = "3f1c1d2e-0000-4000-8000-000000000000"
HISTORY = f"{API}/trade/get-close-orders"
TAMPERED = [
    "7" * 10_000,  # far over the 200 characters a cursor may have
    "1" * 163 + f".{ORDER_ID}",  # 200 characters, a time no date holds
    f"1700000000000000\x00.{ORDER_ID}",
    f"1700000000000000.{ORDER_ID}\x00",
    f"1700000000000000.{ORDER_ID}' OR '1'='1",
    f"\uff11\uff17\uff10\uff10.{ORDER_ID}",  # full-width digits
    f" 1700000000000000.{ORDER_ID}",
    f"+1700000000000000.{ORDER_ID}",
    f"1.7e15.{ORDER_ID}",
    f"1700000000000000.{ORDER_ID}.{ORDER_ID}",
    f"1700000000000000.{{{ORDER_ID}}}",  # a UUID spelling Python accepts, not nextCursor's
    "1700000000000000.",
    ".",
]


@pytest.mark.parametrize("cursor", TAMPERED)
async def test_a_tampered_cursor_is_a_422_naming_the_field(embedded: Stack, cursor: str) -> None:
    session = await embedded.sign_in()
    response = await embedded.client.get(HISTORY, params={"cursor": cursor}, headers=session.auth)
    body = assert_error(response, 422, "validation_error")
    assert body["message"].startswith("cursor"), body


async def close_one(stack: Stack, session: Session) -> str:
    created = await stack.create_order(session, asset="SOL_USDC", qty="1", leverage=2)
    assert created.status_code == 200, created.text
    order_id: str = created.json()["orderId"]
    closed = await stack.close_order(session, order_id)
    assert closed.status_code == 200, closed.text
    return order_id


async def test_another_users_cursor_is_only_a_position_in_your_own_trades(stack: Stack) -> None:
    alice, bob = await stack.sign_in(), await stack.sign_in()
    await stack.publish_price("SOL_USDC", "150.00", "150.02")
    closed: dict[str, list[str]] = {"alice": [], "bob": []}
    for _ in range(3):  # closed one after the other: alice, bob, alice, bob, ...
        closed["alice"].append(await close_one(stack, alice))
        closed["bob"].append(await close_one(stack, bob))
    # Bob's second page starts after his second newest trade, closed after alice's second.
    bobs = await stack.closed_orders(bob, limit=2)
    assert [order["orderId"] for order in bobs["orders"]] == closed["bob"][:0:-1]

    with_bobs_cursor = await stack.closed_orders(alice, cursor=bobs["nextCursor"])

    # Alice sees her own trades closed before that moment, and nothing of Bob's.
    assert [order["orderId"] for order in with_bobs_cursor["orders"]] == closed["alice"][1::-1]
    assert with_bobs_cursor["nextCursor"] is None
    # A cursor made up to point anywhere shows no more: everything of hers, or nothing.
    everything = await stack.closed_orders(
        alice, cursor=f"253402300799999999.{'f' * 8}{ORDER_ID[8:]}"
    )
    assert [order["orderId"] for order in everything["orders"]] == closed["alice"][::-1]
    nothing = await stack.closed_orders(alice, cursor=f"0.{ORDER_ID}")
    assert nothing == {"orders": [], "nextCursor": None}
