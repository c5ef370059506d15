"""Sign-out ends the session everywhere: in every API process, in the WebSocket server
(its open connections closed), and for good (after restarts, until the token expires).

It once only cleared the cookie: the same bearer token and cookie worked for their full 7
days after ``POST /auth/signout``, and an authenticated WebSocket stayed open.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.support.api import API, BASE_URL, JWT_SECRET, PUBLIC_URL, Session, Stack, assert_error
from tests.support.servers import free_port
from tests.support.stack import eventually
from tests.support.ws import Inbox, WsProcess
from tradepro.api.app import create_app

pytestmark = pytest.mark.integration

WHO = f"{API}/auth/protected-route-test"


@contextlib.asynccontextmanager
async def another_api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A second API on the same bus and database (its own requester, session checks and
    list of ended sessions: what another ``tradepro api`` process has)."""
    app = create_app(stack.settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


def ws_env(stack: Stack) -> dict[str, str]:
    """``tradepro ws`` on the stack's bus and database (Redis + PostgreSQL, or the
    embedded SQLite journal and file in its data folder)."""
    settings = stack.settings
    return {
        "REDIS_URL": settings.redis_url or "",
        "TRADEPRO_BUS_NAMESPACE": settings.tradepro_bus_namespace,
        "DATABASE_URL": settings.database_url or "",
        "TRADEPRO_DATA_DIR": str(settings.tradepro_data_dir),
        "JWT_SECRET": JWT_SECRET,
        "PUBLIC_URL": PUBLIC_URL,
    }


def ws_process(stack: Stack, log: Path) -> contextlib.AbstractAsyncContextManager[WsProcess]:
    return WsProcess(ws_env(stack), free_port(), log).running()


async def status(client: httpx.AsyncClient, session: Session) -> int:
    return (await client.get(WHO, headers=session.auth)).status_code


async def live_orders(server: WsProcess, session: Session) -> Inbox:
    """A WebSocket authenticated with ``session``, subscribed to its order events."""
    inbox = Inbox(await connect(f"{server.url}?token={session.token}"))
    assert (await inbox.subscribe("orders"))["channels"] == ["orders"]
    return inbox


async def test_sign_out_ends_the_session_in_every_api_and_ws_process_for_good(
    stack: Stack, tmp_path: Path
) -> None:
    session = await stack.sign_in()
    other_session = await stack.sign_in(session.email)  # the same user in another browser
    async with another_api(stack) as other_api, ws_process(stack, tmp_path / "ws.log") as ws:
        watching = await live_orders(ws, session)
        other_watching = await live_orders(ws, other_session)
        for client in (stack.client, other_api):
            assert await status(client, session) == 200

        signed_out = await stack.client.post(f"{API}/auth/signout", headers=session.auth)
        assert signed_out.status_code == 200, signed_out.text

        assert_error(await stack.client.get(WHO, headers=session.auth), 401, "unauthorized")

        async def other_api_refuses() -> bool:
            return await status(other_api, session) == 401

        await eventually(other_api_refuses, 10, "the other API to refuse the token")
        assert await watching.closed() == 4401
        assert watching.connection.close_reason == "session ended: signed out"
        refused = Inbox(await connect(f"{ws.url}?token={session.token}"))
        assert await refused.closed() == 4401
        # Only that session ended: the user's other session goes on everywhere.
        assert other_watching.close_code is None
        assert (await other_watching.subscribe("orders"))["channels"] == ["orders"]
        for client in (stack.client, other_api):
            assert await status(client, other_session) == 200
        await other_watching.close()

    # Processes started after the sign-out refuse the token from their first request.
    async with another_api(stack) as restarted, ws_process(stack, tmp_path / "ws2.log") as ws:
        assert_error(await restarted.get(WHO, headers=session.auth), 401, "unauthorized")
        assert await status(restarted, other_session) == 200
        refused = Inbox(await connect(f"{ws.url}?token={session.token}"))
        assert await refused.closed() == 4401
        await (await live_orders(ws, other_session)).close()


async def test_sign_out_by_cookie_ends_that_session_and_clears_the_cookie(embedded: Stack) -> None:
    session = await embedded.sign_in()
    async with embedded.new_client() as browser:
        browser.cookies.set("token", session.token)
        assert (await browser.get(WHO)).status_code == 200
        signed_out = await browser.post(f"{API}/auth/signout", headers={"Origin": PUBLIC_URL})
        assert signed_out.status_code == 200, signed_out.text
        deletion = signed_out.headers["set-cookie"]
        assert deletion.startswith('token=""; ') and "Max-Age=0" in deletion, deletion
        browser.cookies.clear()
        browser.cookies.set("token", session.token)  # a copy kept by whoever stole it
        assert_error(await browser.get(WHO), 401, "unauthorized")
    assert_error(await embedded.client.get(WHO, headers=session.auth), 401, "unauthorized")
    # Signing out again, or with no session at all, is harmless.
    again = await embedded.client.post(f"{API}/auth/signout", headers=session.auth)
    assert again.status_code == 200, again.text
    assert (await embedded.client.post(f"{API}/auth/signout")).status_code == 200


async def test_a_sign_out_the_engine_does_not_confirm_is_a_504_and_completes_later(
    embedded: Stack,
) -> None:
    session = await embedded.sign_in()
    await embedded.stop_engine()
    embedded.context.requester.timeout_s = 0.5
    async with another_api(embedded) as other_api:
        async with embedded.new_client() as browser:
            browser.cookies.set("token", session.token)
            unconfirmed = await browser.post(f"{API}/auth/signout", headers={"Origin": PUBLIC_URL})
            body = assert_error(unconfirmed, 504, "timeout")
            assert "sign out again" in body["message"]
            assert "set-cookie" not in unconfirmed.headers  # kept, to try again
        assert await status(embedded.client, session) == 401  # this process: at once
        assert await status(other_api, session) == 200  # not told yet

        await embedded.start_engine()  # it applies the waiting end-session entry

        async def other_api_refuses() -> bool:
            return await status(other_api, session) == 401

        await eventually(other_api_refuses, 10, "the other API to refuse the token")
        embedded.context.requester.timeout_s = 5.0
        again = await embedded.client.post(f"{API}/auth/signout", headers=session.auth)
        assert again.status_code == 200, again.text
