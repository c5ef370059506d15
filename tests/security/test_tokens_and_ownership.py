"""Who may do what: other users' orders, forged and misused tokens, missing auth."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import jwt
import orjson
import pytest

from tests.support.api import API, JSON, JWT_SECRET, Stack, assert_error, local_path, new_email
from tradepro.security.tokens import LINK, SESSION, issue

pytestmark = pytest.mark.integration

PROTECTED = {
    ("GET", f"{API}/auth/protected-route-test"),
    ("POST", f"{API}/trade/create-order"),
    ("POST", f"{API}/trade/close-order"),
    ("GET", f"{API}/trade/get-open-orders"),
    ("GET", f"{API}/trade/get-close-orders"),
    ("GET", f"{API}/trade/get-pending-orders"),
    ("GET", f"{API}/trade/get-order-history"),
    ("POST", f"{API}/trade/cancel-order"),
    ("POST", f"{API}/trade/amend-order"),
    ("POST", f"{API}/trade/modify-order"),
    ("POST", f"{API}/trade/close-all"),
    ("GET", f"{API}/balance/me"),
    ("GET", f"{API}/trade/export.csv"),
    ("GET", f"{API}/account/stats"),
    ("GET", f"{API}/account/limits"),
    ("POST", f"{API}/account/reset"),
    ("POST", f"{API}/account/deposit"),
    ("GET", f"{API}/account/events"),
    ("GET", f"{API}/account/portfolio-history"),
    ("POST", f"{API}/auth/api-keys"),
    ("GET", f"{API}/auth/api-keys"),
    ("DELETE", f"{API}/auth/api-keys/{{key_id}}"),
}
BODIES: dict[str, dict[str, Any]] = {
    f"{API}/trade/create-order": {"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 5},
    f"{API}/trade/close-order": {"orderId": "3f1c1d2e-0000-4000-8000-000000000000"},
    f"{API}/trade/cancel-order": {"orderId": "3f1c1d2e-0000-4000-8000-000000000000"},
    f"{API}/trade/amend-order": {"orderId": "3f1c1d2e-0000-4000-8000-000000000000", "qty": "1"},
    f"{API}/auth/api-keys": {"name": "bot", "scopes": ["read"]},
    f"{API}/trade/modify-order": {
        "orderId": "3f1c1d2e-0000-4000-8000-000000000000",
        "takeProfit": "1",
    },
    f"{API}/trade/close-all": {},
    f"{API}/account/reset": {},
    f"{API}/account/deposit": {"amount": "1.00"},
}


def without_ids(message: str) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", message)


async def test_another_users_order_can_be_neither_closed_nor_seen(stack: Stack) -> None:
    alice, bob = await stack.sign_in(), await stack.sign_in()
    await stack.publish_price("ETH_USDC", "3500.00", "3500.10")
    created = await stack.create_order(alice, asset="ETH_USDC", qty="0.5", leverage=5)
    assert created.status_code == 200, created.text
    order_id = created.json()["orderId"]

    stolen = assert_error(await stack.close_order(bob, order_id), 404, "order_not_found")
    unknown = assert_error(
        await stack.close_order(bob, "3f1c1d2e-0000-4000-8000-000000000000"), 404, "order_not_found"
    )
    assert without_ids(stolen["message"]) == without_ids(unknown["message"])  # no hint
    assert await stack.open_orders(bob) == []
    assert [o["orderId"] for o in await stack.open_orders(alice)] == [order_id]  # untouched
    # Alice's order id as bob's cursor pages bob's own (empty) list: nothing of hers.
    paged = await stack.client.get(
        f"{API}/trade/get-open-orders", params={"cursor": order_id}, headers=bob.auth
    )
    assert paged.status_code == 200 and paged.json() == {"orders": [], "nextCursor": None}

    closed = await stack.close_order(alice, order_id)
    assert closed.status_code == 200, closed.text
    assert (await stack.closed_orders(bob))["orders"] == []
    assert [t["orderId"] for t in (await stack.closed_orders(alice))["orders"]] == [order_id]
    assert (await stack.balance(bob))["balance"] == "5000.00"


def b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(part)).rstrip(b"=").decode()


def forged_tokens(session_token: str) -> dict[str, str]:
    """Tokens for the same user that must all be refused as sessions."""
    claims = jwt.decode(session_token, options={"verify_signature": False})
    header, payload, signature = session_token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    other_payload = b64(claims | {"sub": "00000000-0000-4000-8000-000000000001"})
    now = int(time.time())
    return {
        "tampered payload": f"{header}.{flipped}.{signature}",
        "payload swapped, signature kept": f"{header}.{other_payload}.{signature}",
        "expired": jwt.encode(claims | {"iat": now - 7200, "exp": now - 60}, JWT_SECRET),
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.",
        "other secret": jwt.encode(claims, "another-secret-0123456789abcdef0123456789"),
        "HS512, same secret": jwt.encode(claims, JWT_SECRET, algorithm="HS512"),
        "no expiry": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, JWT_SECRET),
        "not a jwt": "not-a-token",
    }


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 forgery
async def test_forged_expired_and_misused_tokens_are_refused(embedded: Stack) -> None:
    stack = embedded
    session = await stack.sign_in()
    who = f"{API}/auth/protected-route-test"
    assert (await stack.client.get(who, headers=session.auth)).status_code == 200
    for name, token in forged_tokens(session.token).items():
        async with stack.new_client() as client:
            by_header = await client.get(who, headers={"Authorization": f"Bearer {token}"})
            client.cookies.set("token", token)
            by_cookie = await client.get(who)
        for response in (by_header, by_cookie):
            body = assert_error(response, 401, "unauthorized")
            assert session.user_id not in body["message"], name

    # A sign-in link token is not a session, even unused and correctly signed.
    link = await stack.sign_up(session.email)
    link_token = link.split("token=", 1)[1]
    assert jwt.decode(link_token, JWT_SECRET, algorithms=["HS256"])["typ"] == LINK
    as_session = await stack.client.get(who, headers={"Authorization": f"Bearer {link_token}"})
    assert_error(as_session, 401, "unauthorized")
    # ... and that refusal did not consume it: it still signs in, once.
    first = await stack.client.get(local_path(link), headers=JSON)
    assert first.status_code == 200, first.text
    assert first.json()["user"] == {"id": session.user_id, "email": session.email}
    again = await stack.client.get(local_path(link), headers=JSON)
    assert_error(again, 401, "invalid_link")
    stack.client.cookies.clear()
    # A browser opening the used link goes back to the sign-in page, which says why.
    browser = await stack.client.get(local_path(link), headers={"Accept": "text/html"})
    assert browser.status_code == 303
    assert browser.headers["location"] == (
        "/?signin_error=this%20sign-in%20link%20was%20already%20used%20or%20expired"
    )
    assert "token" not in browser.cookies

    # A session token is not a sign-in link, nor is a link for a token never issued.
    verify = f"{API}/auth/signin/verify"
    as_link = await stack.client.get(verify, params={"token": session.token}, headers=JSON)
    assert_error(as_link, 401, "invalid_link")
    unissued, _ = issue(JWT_SECRET, LINK, session.user_id, session.email, 900)
    never = await stack.client.get(verify, params={"token": unissued}, headers=JSON)
    assert_error(never, 401, "invalid_link")
    expired_link, _ = issue(JWT_SECRET, LINK, session.user_id, session.email, -60)
    late = await stack.client.get(verify, params={"token": expired_link}, headers=JSON)
    assert_error(late, 401, "invalid_link")
    late_in_browser = await stack.client.get(verify, params={"token": expired_link})
    assert late_in_browser.status_code == 303
    assert late_in_browser.headers["location"].startswith("/?signin_error=this%20sign-in%20link")
    # The control: a session signed with the real secret is accepted (the refusals above
    # are about the tokens, not the user).
    minted, _ = issue(JWT_SECRET, SESSION, session.user_id, session.email, 60)
    assert (await stack.client.get(who, headers={"Authorization": f"Bearer {minted}"})).json() == {
        "id": session.user_id,
        "email": session.email,
    }


async def test_every_protected_route_needs_a_session(embedded: Stack) -> None:
    stack = embedded
    schema = (await stack.client.get("/openapi.json")).json()
    secured = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert secured == PROTECTED  # the schema documents exactly these as needing auth
    for method, path in sorted(PROTECTED):
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic dXNlcjpwdw=="}):
            response = await stack.client.request(
                method, path, json=BODIES.get(path), headers=headers
            )
            assert_error(response, 401, "unauthorized")
    assert not stack.client.cookies


async def test_errors_are_json_with_a_stable_word(embedded: Stack) -> None:
    client = embedded.client
    assert_error(await client.get(f"{API}/no-such-route"), 404, "not_found")
    assert_error(await client.get(f"{API}/trade/create-order"), 405, "method_not_allowed")
    assert_error(await client.get(f"{API}/auth/signin/verify"), 422, "validation_error")
    bad_email = await client.post(f"{API}/auth/signup", json={"email": "not-an-address"})
    assert "email" in assert_error(bad_email, 422, "validation_error")["message"]
    session = await embedded.sign_in(new_email())
    broken = await client.post(
        f"{API}/trade/create-order",
        content=b'{"asset": "BTC_USDC", "side": ',
        headers=session.auth | {"Content-Type": "application/json"},
    )
    assert_error(broken, 422, "validation_error")
