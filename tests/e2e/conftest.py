"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, the real stack.

Browsers are not downloaded: Playwright launches the system Chromium
(``apt-get install chromium``; ``TRADEPRO_TEST_CHROMIUM`` names another binary). Without it,
or without the chart library that ``make install`` copies from npm, these tests skip with
the reason, and fail when ``TRADEPRO_REQUIRE_SERVICES=1`` (as in CI).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from tests.support.e2e_pages import DESKTOP, PHONE, Device
from tests.support.e2e_stack import ARTIFACTS, Stack
from tests.support.servers import services_required
from tradepro.web.serve import CHART_LIBRARY, STATIC_DIR

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("TRADEPRO_TEST_CHROMIUM", "/usr/bin/chromium")
MODULES_ORIGIN = "http://tradepro.test"
"""Where ``module_page`` serves the static files (routed by the test: never on the network)."""
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DEFAULT_DEVICE = Device("desktop", 1400, 900)
DEVICES = {device.name: device for device in (DESKTOP, PHONE)}

Shot = Callable[[str], Path]

expect.set_options(timeout=10_000)


def _missing(what: str) -> None:
    if services_required():
        pytest.fail(f"{what} and TRADEPRO_REQUIRE_SERVICES=1")
    pytest.skip(f"{what}; set TRADEPRO_REQUIRE_SERVICES=1 to make this a failure")


class SharedBrowser:
    """One headless Chromium for the browser tests, launched by the first (a launch costs
    about a second) and closed after the last: each test still gets a new context (no
    cookies, no storage). Playwright's sync API keeps an event loop for as long as it runs,
    so it must stop before any asyncio test outside this folder starts its own loop."""

    def __init__(self) -> None:
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None

    def get(self) -> Browser:
        if self.browser is not None and self.browser.is_connected():
            return self.browser
        self.close()  # a browser that crashed is launched again
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        return self.browser

    def close(self) -> None:
        browser, playwright = self.browser, self.playwright
        self.browser = self.playwright = None
        try:
            if browser is not None and browser.is_connected():
                browser.close()
        finally:
            if playwright is not None:
                playwright.stop()


SHARED = SharedBrowser()


@pytest.fixture
def browser() -> Browser:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    if not CHART_LIBRARY.is_file():
        _missing("the chart library is not installed (run `make install`; it needs npm)")
    return SHARED.get()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After a browser test's fixtures are gone: stop the shared browser when the next
    test is not a browser test (or there is none)."""
    try:
        return (yield)
    finally:
        if nextitem is None or HERE not in nextitem.path.parents:
            SHARED.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    """A failed test leaves a screenshot of its page as it was (before any teardown)."""
    report: pytest.TestReport = yield
    page = getattr(item, "funcargs", {}).get("page")
    if call.when == "call" and report.failed and page is not None:
        folder = artifacts_for(item)
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / "failure.png"), full_page=True)
    return report


def artifacts_for(node: pytest.Item) -> Path:
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A page in a new browser context (no cookies); uncaught script errors fail the test.

    A test parametrized indirectly on ``page`` gets a ``Device`` of its choice, or its name
    (``"desktop"``, ``"phone"``: with touch and mobile emulation); by default, a desktop
    window."""
    chosen: Device | str = getattr(request, "param", DEFAULT_DEVICE)
    device = DEVICES[chosen] if isinstance(chosen, str) else chosen
    context = browser.new_context(**device.context_options())
    opened = context.new_page()
    crashes: list[str] = []
    opened.on("pageerror", lambda error: crashes.append(str(error)))
    policy: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            policy.append(message.text)

    opened.on("console", on_console)
    try:
        yield opened
    finally:
        context.close()
    assert not crashes, f"uncaught errors in the page: {crashes}"
    assert not policy, f"the page broke its Content-Security-Policy: {policy}"


@pytest.fixture
def shot(request: pytest.FixtureRequest, page: Page) -> Shot:
    """``shot(name)`` saves a screenshot under test-artifacts/e2e/<test>/ (look at them)."""
    folder = artifacts_for(request.node)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    taken: list[Path] = []

    def shot(name: str) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return shot


@pytest.fixture
def stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_url: str,
    bus_namespace: str,
    postgres_url: str,
) -> Iterator[Stack]:
    """api, engine, ws and poller as processes on Redis + PostgreSQL; their logs are kept
    under test-artifacts/e2e/<test>/ afterwards."""
    running = Stack(tmp_path, redis_url, bus_namespace, postgres_url)
    try:
        running.start()
        yield running
    finally:
        running.close()
        folder = artifacts_for(request.node)
        folder.mkdir(parents=True, exist_ok=True)
        for log in tmp_path.glob("*.log"):
            shutil.copy(log, folder / log.name)


@pytest.fixture
def module_page(page: Page) -> Iterator[Page]:
    """A blank page on an origin that serves the UI's static files from the source tree:
    a test imports the page's modules and runs their functions (no server needed)."""

    def serve(route: Route) -> None:
        path = route.request.url.removeprefix(MODULES_ORIGIN).split("?")[0]
        if path == "/":
            route.fulfill(body="<!doctype html><title>modules</title>", content_type="text/html")
            return
        local = (STATIC_DIR / path.removeprefix("/static/")).resolve()
        if not local.is_relative_to(STATIC_DIR) or not local.is_file():
            route.fulfill(status=404, body="not found")
            return
        route.fulfill(body=local.read_bytes(), content_type="text/javascript")

    page.route(f"{MODULES_ORIGIN}/**", serve)
    page.goto(f"{MODULES_ORIGIN}/")
    yield page
