"""A trader's whole journey over HTTP, on Redis + PostgreSQL and on the embedded default.

Sign-up e-mails go through a real local SMTP server; the links are read from the mails.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import pytest

from tests.support.api import (
    API,
    JSON,
    PUBLIC_URL,
    VERIFY_PREFIX,
    Session,
    Stack,
    local_path,
    new_email,
)
from tests.support.stack import eventually

pytestmark = pytest.mark.integration


def session_cookie(set_cookie: str) -> Any:
    cookie = SimpleCookie()
    cookie.load(set_cookie)
    return cookie["token"]


async def test_sign_up_trade_and_sign_out(stack: Stack) -> None:
    client = stack.client
    email = new_email()

    # Sign up: a single-use link arrives by e-mail, pointing at PUBLIC_URL.
    signed_up = await client.post(f"{API}/auth/signup", json={"email": email})
    assert signed_up.status_code == 200, signed_up.text
    assert set(signed_up.json()) == {"message"}
    link = await stack.mailbox.link(email)
    assert link.startswith(VERIFY_PREFIX)

    # An API client verifies with Accept: application/json and gets the token and the user.
    async with stack.new_client() as api_client:
        verified = await api_client.get(local_path(link), headers=JSON)
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert set(body) == {"token", "user"}
    assert body["user"]["email"] == email
    session = Session(body["user"]["id"], email, body["token"])
    assert "set-cookie" not in verified.headers  # API clients keep the token themselves

    # A browser follows a second link: a page asks "Sign in as ...?"; its button signs in
    # (303 to the UI with an HttpOnly, SameSite=Lax cookie).
    second_link = await stack.sign_up(email)
    assert second_link != link
    async with stack.new_client() as browser:
        page = await browser.get(local_path(second_link))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert f'<span data-testid="confirm-email">{email}</span>?' in page.text
        assert "set-cookie" not in page.headers
        token = second_link.split("token=", 1)[1]
        redirected = await browser.post(
            f"{API}/auth/signin/verify", data={"token": token}, headers={"Origin": PUBLIC_URL}
        )
        assert redirected.status_code == 303
        assert redirected.headers["location"] == "/"
        cookie = session_cookie(redirected.headers["set-cookie"])
        assert cookie["httponly"] is True
        assert cookie["samesite"].lower() == "lax"
        assert int(cookie["max-age"]) > 0
        assert not cookie["secure"]  # PUBLIC_URL is http here
        who = await browser.get(f"{API}/auth/protected-route-test")  # the cookie alone
        assert who.status_code == 200, who.text
        assert who.json() == {"id": session.user_id, "email": email}

        # Signing out clears the cookie: the browser is signed out.
        signed_out = await browser.post(f"{API}/auth/signout", headers={"Origin": PUBLIC_URL})
        assert signed_out.status_code == 200
        cleared = session_cookie(signed_out.headers["set-cookie"])
        assert cleared.value in ("", '""') and int(cleared["max-age"]) == 0
        after = await browser.get(f"{API}/auth/protected-route-test")
        assert after.status_code == 401

    # The bearer token works for API clients.
    who = await client.get(f"{API}/auth/protected-route-test", headers=session.auth)
    assert who.status_code == 200
    assert who.json() == {"id": session.user_id, "email": email}
    assert await stack.balance(session) == {
        "balance": "5000.00",
        "lockedMargin": "0.00",
        "orderMargin": "0.00",
        "equity": "5000.00",
    }

    # Open a long at the ask: margin rounds up to the cent, decimal strings everywhere.
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    created = await stack.create_order(session, qty="0.01", leverage=10)
    assert created.status_code == 200, created.text
    order = created.json()
    assert order["asset"] == "BTC_USDC" and order["side"] == "buy"
    assert order["qty"] == "0.01000"
    assert order["leverage"] == 10
    assert order["openPrice"] == "100001.0"  # the ask
    assert order["margin"] == "100.01"  # 100001.0 x 0.01 / 10 = 100.001, rounded up
    assert order["liquidationPrice"] == "90500.0"  # 100001.0 - ceil(0.95 x 100.01 / 0.01)
    assert order["takeProfit"] is None and order["stopLoss"] is None
    assert order["slippage"] is None
    assert order["createdAt"].endswith("Z")

    # Immediately visible: open orders with live PnL (at the bid), margin in the balance.
    [listed] = await stack.open_orders(session)
    live = ("unrealizedPnl", "trailingStopPrice")
    assert {k: v for k, v in listed.items() if k not in live} == order
    assert listed["trailingStopPrice"] is None
    assert listed["unrealizedPnl"] == "-0.01"  # (100000.0 - 100001.0) x 0.01
    assert await stack.balance(session) == {
        "balance": "4899.99",
        "lockedMargin": "100.01",
        "orderMargin": "0.00",
        "equity": "4999.99",
    }

    # Close it at the bid: immediately in the closed trades, with reason and liquidated.
    closed = await stack.close_order(session, order["orderId"])
    assert closed.status_code == 200, closed.text
    assert closed.json() == {
        "orderId": order["orderId"],
        "closePrice": "100000.0",
        "pnl": "-0.01",
        "reason": "user",
        "balance": "4999.99",
        "tradeId": order["orderId"],
        "commission": "0.00",
        "closedQty": "0.01000",
        "remainingQty": "0.00000",
    }
    assert await stack.open_orders(session) == []
    history = await stack.closed_orders(session)
    assert history["nextCursor"] is None
    [trade] = history["orders"]
    assert trade == {
        "orderId": order["orderId"],
        "asset": "BTC_USDC",
        "side": "buy",
        "qty": "0.01000",
        "leverage": 10,
        "openPrice": "100001.0",
        "closePrice": "100000.0",
        "pnl": "-0.01",
        "reason": "user",
        "liquidated": False,
        "slippage": None,
        "createdAt": order["createdAt"],
        "closedAt": trade["closedAt"],
        "tradeId": order["orderId"],
        "commission": "0.00",
    }
    assert trade["closedAt"].endswith("Z") and trade["closedAt"] >= trade["createdAt"]

    # Three more round trips (a short among them), then page through them two at a time.
    order_ids = [order["orderId"]]
    for side in ("sell", "buy", "buy"):
        opened = await stack.create_order(session, side=side, qty="0.002", leverage=5)
        assert opened.status_code == 200, opened.text
        order_ids.append(opened.json()["orderId"])
        shut = await stack.close_order(session, order_ids[-1])
        assert shut.status_code == 200, shut.text
    first = await stack.closed_orders(session, limit=2)
    assert len(first["orders"]) == 2 and first["nextCursor"]
    second = await stack.closed_orders(session, limit=2, cursor=first["nextCursor"])
    assert len(second["orders"]) == 2 and second["nextCursor"] is None
    pages = [trade["orderId"] for trade in first["orders"] + second["orders"]]
    assert sorted(pages) == sorted(order_ids)  # each exactly once
    closed_at = [trade["closedAt"] for trade in first["orders"] + second["orders"]]
    assert closed_at == sorted(closed_at, reverse=True)  # newest first
    assert pages[-1] == order_ids[0]  # the oldest close comes last

    # The balance after: nothing locked; each extra trade lost 1.0 x 0.002 = 0.002 -> 0.00
    # (half-even), so only the first trade's -0.01 is gone.
    assert [t["pnl"] for t in first["orders"] + second["orders"]] == ["0.00"] * 3 + ["-0.01"]
    assert await stack.balance(session) == {
        "balance": "4999.99",
        "lockedMargin": "0.00",
        "orderMargin": "0.00",
        "equity": "4999.99",
    }


async def test_engine_closes_appear_in_the_history(stack: Stack) -> None:
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    with_target = await stack.create_order(session, takeProfit="101000.0")
    assert with_target.status_code == 200, with_target.text
    target_id = with_target.json()["orderId"]
    assert with_target.json()["takeProfit"] == "101000.0"
    risky = await stack.create_order(session, leverage=100)
    assert risky.status_code == 200, risky.text
    risky_order = risky.json()
    assert risky_order["margin"] == "10.01"  # 1000.01 / 100, rounded up
    assert risky_order["liquidationPrice"] == "99050.0"  # 100001.0 - ceil(0.95 x 10.01 / 0.01)

    # The bid reaches the take-profit: the engine closes it on that tick.
    await stack.publish_price("BTC_USDC", "101000.0", "101000.5")

    async def closed_by_engine() -> bool:
        return any(
            t["orderId"] == target_id for t in (await stack.closed_orders(session))["orders"]
        )

    await eventually(closed_by_engine, 10, "the take-profit close in get-close-orders")
    [by_target] = (await stack.closed_orders(session))["orders"]
    assert by_target["reason"] == "take_profit"
    assert by_target["liquidated"] is False
    assert by_target["closePrice"] == "101000.0"
    assert by_target["pnl"] == "9.99"  # (101000.0 - 100001.0) x 0.01
    assert [o["orderId"] for o in await stack.open_orders(session)] == [risky_order["orderId"]]

    # A crash through the liquidation price: a margin call, liquidated.
    await stack.publish_price("BTC_USDC", "99000.0", "99000.5")

    async def liquidated() -> bool:
        return len((await stack.closed_orders(session))["orders"]) == 2

    await eventually(liquidated, 10, "the margin call in get-close-orders")
    newest = (await stack.closed_orders(session))["orders"][0]
    assert newest["orderId"] == risky_order["orderId"]
    assert newest["reason"] == "margin_call"
    assert newest["liquidated"] is True
    assert newest["closePrice"] == "99000.0"
    assert newest["pnl"] == "-10.01"  # (99000.0 - 100001.0) x 0.01, the whole margin
    assert await stack.open_orders(session) == []
    balance = await stack.balance(session)
    assert balance == {
        "balance": "4999.98",
        "lockedMargin": "0.00",
        "orderMargin": "0.00",
        "equity": "4999.98",
    }
