"""In production the session cookie is ``Secure`` (set and deleted), HttpOnly and Lax.

It once took ``Secure`` only from an ``https://`` ``PUBLIC_URL`` and deleted the cookie
without it: behind a TLS proxy with a plain-HTTP ``PUBLIC_URL`` the session went over HTTP.
"""

from __future__ import annotations

from http.cookies import Morsel, SimpleCookie

import pytest

from tests.support.api import API, PUBLIC_URL, Stack

pytestmark = pytest.mark.integration


def cookie(set_cookie: str) -> Morsel[str]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookie)
    return jar["token"]


async def sign_in_and_out(stack: Stack) -> tuple[Morsel[str], Morsel[str]]:
    """The ``Set-Cookie`` of a browser's sign-in (the confirmation button) and sign-out."""
    session = await stack.sign_in()
    link = await stack.sign_up(session.email)
    own_page = {"Origin": PUBLIC_URL}
    async with stack.new_client() as browser:
        confirmed = await browser.post(
            f"{API}/auth/signin/verify",
            data={"token": link.split("token=", 1)[1]},
            headers=own_page,
        )
        assert confirmed.status_code == 303, confirmed.text
        set = cookie(confirmed.headers["set-cookie"])
        browser.cookies.set("token", set.value)
        signed_out = await browser.post(f"{API}/auth/signout", headers=own_page)
        assert signed_out.status_code == 200, signed_out.text
        return set, cookie(signed_out.headers["set-cookie"])


@pytest.mark.stack_settings(tradepro_env="production")  # PUBLIC_URL stays http://
async def test_production_cookies_are_secure_when_set_and_when_deleted(embedded: Stack) -> None:
    set, deleted = await sign_in_and_out(embedded)
    for morsel in (set, deleted):
        assert morsel["secure"] is True
        assert morsel["httponly"] is True
        assert morsel["samesite"].lower() == "lax"
    assert int(set["max-age"]) > 0 and int(deleted["max-age"]) == 0


async def test_dev_cookies_on_plain_http_are_not_secure(embedded: Stack) -> None:
    set, deleted = await sign_in_and_out(embedded)
    assert not set["secure"] and not deleted["secure"]
    assert set["httponly"] is True and set["samesite"].lower() == "lax"
