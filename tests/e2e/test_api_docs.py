"""``/docs`` (Swagger UI) works offline: every request to anything but the app's own
origin is blocked, and the page still renders the operations, with no failed load in the
console."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect

from tests.support.e2e_stack import Stack

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1440, "height": 900}


def offline(page: Page, origin: str) -> tuple[list[str], list[str]]:
    """Block every request not to ``origin``; returns (blocked URLs, console errors)."""
    blocked: list[str] = []
    errors: list[str] = []

    def only_own(route: Route) -> None:
        if route.request.url.startswith(f"{origin}/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.route("**/*", only_own)
    page.on("console", on_console)
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    return blocked, errors


def test_swagger_ui_renders_the_operations_offline(
    page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    blocked, errors = offline(page, stack.base_url)

    page.goto(f"{stack.base_url}/docs")
    create = page.locator(".opblock", has_text="/api/v1/trade/create-order")
    expect(create).to_be_visible()
    assert page.locator(".opblock").count() >= 10  # every route, not just the first
    create.locator(".opblock-summary").click()  # the operation opens: the UI's script runs
    expect(create.locator(".parameter__name", has_text="idempotency-key")).to_be_visible()
    shot("swagger-ui-offline")

    assert blocked == [], f"the docs reached out of the app: {blocked}"
    assert errors == [], f"the console reports failures: {errors}"
