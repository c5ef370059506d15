"""Another site's page cannot use the victim's session cookie, nor plant its own session.

Once: a cross-site POST to ``/auth/signout`` logged the victim out; navigating the victim
to the attacker's own sign-in link signed the victim's browser into the attacker's
account; and the WebSocket server accepted a cookie-authenticated connection from any
origin (a page on ``http://localhost:5555`` read the victim's order events).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.api import API, JSON, PUBLIC_URL, Session, Stack, assert_error, local_path
from tests.support.stack import EngineProcess
from tests.support.ws import Inbox, WsProcess, cookie_headers, engine_answers, register
from tradepro.bus.requests import Requester

pytestmark = pytest.mark.integration

WHO = f"{API}/auth/protected-route-test"
EVIL = "http://evil.example"
SAME_HOST_OTHER_PORT = "http://tradepro.test:5555"  # the same site, another origin
ORDER = {"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10}
FOREIGN_PAGES: dict[str, dict[str, str]] = {
    "another site": {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
    "another port of our host": {"Origin": SAME_HOST_OTHER_PORT, "Sec-Fetch-Site": "same-site"},
    "an opaque origin": {"Origin": "null"},
    "no origin at all": {},
}


async def browser_of(stack: Stack, session: Session) -> httpx.AsyncClient:
    browser = stack.new_client()
    browser.cookies.set("token", session.token)
    return browser


async def test_cookie_writes_from_other_pages_are_refused_and_change_nothing(
    stack: Stack,
) -> None:
    session = await stack.sign_in()
    await stack.publish_price("BTC_USDC", "100000.0", "100001.0")
    async with await browser_of(stack, session) as browser:
        for name, headers in FOREIGN_PAGES.items():
            for path, body in ((f"{API}/auth/signout", None), (f"{API}/trade/create-order", ORDER)):
                response = await browser.post(path, json=body, headers=headers)
                refused = assert_error(response, 403, "cross_site")
                assert "another web site" in refused["message"], name
                assert "set-cookie" not in response.headers, (name, path)
        assert (await browser.get(WHO)).status_code == 200  # reads are not writes
        assert await stack.open_orders(session) == []  # nothing was opened
        # Our own page, by its Origin or by the browser's Sec-Fetch-Site, is served.
        own = await browser.post(
            f"{API}/trade/create-order", json=ORDER, headers={"Origin": PUBLIC_URL}
        )
        assert own.status_code == 200, own.text
        fetched = await browser.post(
            f"{API}/trade/close-order",
            json={"orderId": own.json()["orderId"]},
            headers={"Origin": EVIL.replace("evil", "whatever"), "Sec-Fetch-Site": "same-origin"},
        )
        assert fetched.status_code == 200, fetched.text
    # A program that sends its token itself may come from anywhere.
    by_bearer = await stack.client.post(
        f"{API}/trade/create-order", json=ORDER, headers=session.auth | {"Origin": EVIL}
    )
    assert by_bearer.status_code == 200, by_bearer.text


async def test_the_sign_in_link_asks_before_it_signs_a_browser_in(embedded: Stack) -> None:
    stack = embedded
    victim, attacker = await stack.sign_in(), await stack.sign_in()
    link = await stack.sign_up(attacker.email)
    token = link.split("token=", 1)[1]
    async with await browser_of(stack, victim) as browser:
        # Opening the link (a navigation an attacker can cause) only shows whose it is.
        page = await browser.get(local_path(link))
        assert page.status_code == 200, page.text
        assert attacker.email in page.text and "Sign in as" in page.text
        assert "set-cookie" not in page.headers
        assert page.headers["x-frame-options"] == "DENY"  # no clickjacking of the button
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        # The button's POST, sent by another page, is refused and consumes nothing.
        for name, headers in FOREIGN_PAGES.items():
            planted = await browser.post(
                f"{API}/auth/signin/verify", data={"token": token}, headers=headers
            )
            assert_error(planted, 403, "cross_site")
            assert "set-cookie" not in planted.headers, name
        assert (await browser.get(WHO)).json()["email"] == victim.email  # still the victim
        # An API client's exchange of the link returns the token and sets no cookie.
        exchanged = await browser.get(local_path(link), headers=JSON)
        assert exchanged.status_code == 200, exchanged.text
        assert exchanged.json()["user"]["email"] == attacker.email
        assert "set-cookie" not in exchanged.headers
        assert (await browser.get(WHO)).json()["email"] == victim.email

    # The owner of a link, on our page, presses the button: signed in, once.
    own_link = await stack.sign_up(victim.email)
    own_token = own_link.split("token=", 1)[1]
    async with stack.new_client() as browser:
        confirm: dict[str, Any] = {"data": {"token": own_token}, "headers": {"Origin": PUBLIC_URL}}
        signed_in = await browser.post(f"{API}/auth/signin/verify", **confirm)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
        assert "HttpOnly" in signed_in.headers["set-cookie"]
        assert (await browser.get(WHO)).json()["email"] == victim.email
        again = await browser.post(f"{API}/auth/signin/verify", **confirm)
        assert again.status_code == 303
        assert again.headers["location"].startswith("/?signin_error=this%20sign-in%20link")
        assert "set-cookie" not in again.headers


async def test_a_ws_handshake_with_the_cookie_from_another_origin_is_refused(
    ws_server: WsProcess, engine: EngineProcess, requester: Requester
) -> None:
    await engine_answers(requester, engine)
    victim = await register(requester)
    for origin in (EVIL, "http://localhost:5555", "http://tradepro.test:5555", "null", None):
        headers = {"Cookie": f"token={victim.token}"} | ({"Origin": origin} if origin else {})
        with pytest.raises(InvalidStatus) as refused:
            await connect(ws_server.url, additional_headers=headers)
        assert refused.value.response.status_code == 403, origin
        assert b"not one of TradePro's own" in refused.value.response.body
    # Our own page with the cookie, and any client that sends its token itself, connect.
    own = Inbox(await connect(ws_server.url, additional_headers=cookie_headers(victim.token)))
    assert (await own.subscribe("orders"))["channels"] == ["orders"]
    query = Inbox(
        await connect(f"{ws_server.url}?token={victim.token}", additional_headers={"Origin": EVIL})
    )
    assert (await query.subscribe("orders"))["channels"] == ["orders"]
    prices_only = Inbox(await connect(ws_server.url, additional_headers={"Origin": EVIL}))
    assert (await prices_only.subscribe("prices.BTC_USDC"))["channels"] == ["prices.BTC_USDC"]
    for inbox in (own, query, prices_only):
        await inbox.close()
