"""What this issue added that an attacker could aim at: the ``feed`` message (a browser
gets only known words, a time and a bounded text, whatever a ``feed-status`` entry holds),
and the documentation's files (nothing outside their folder, nothing from another site)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api_app import running_api
from tests.support.ws_hub import Harness
from tradepro.bus.base import Entry
from tradepro.protocol.kinds import Kind
from tradepro.services.ws.feed_status import FeedRelay

SINCE_MS = 1_796_426_045_123


def entry(payload: object) -> Entry:
    return Entry("1-0", str(Kind.FEED_STATUS), str(uuid.uuid4()), 0, payload)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    running = Harness()
    yield running
    await running.stop()


async def test_a_hostile_feed_report_never_reaches_a_browser_as_it_was(harness: Harness) -> None:
    relay = FeedRelay(harness.hub)
    _, peer = await harness.client("prices.BTC_USDC")
    hostile = [
        {"feed": "backpack", "state": "<img src=x onerror=alert(1)>", "since": SINCE_MS},
        {"feed": "javascript:alert(1)", "state": "live", "since": SINCE_MS},
        {"feed": "backpack", "state": "live", "since": "2026-12-04T23:14:05Z"},
        {"feed": "backpack", "state": "live", "since": 10**30},  # no integer overflow
        {"feed": "backpack", "state": "unreachable", "since": None, "error": ["x"]},
        "not an object",
        None,
    ]
    for payload in hostile:
        relay.seen(entry(payload))
    relay.seen(
        entry(
            {
                "feed": "backpack",
                "state": "unreachable",
                "since": SINCE_MS,
                "error": "<script>" + "x" * 100_000,
                "url": "wss://user:password@internal.example/",
                "token": "secret",
            }
        )
    )
    await harness.hub.close_all(1000, "done")  # flush the writer
    [message] = peer.messages()
    assert set(message) == {"type", "feed", "state", "since", "error"}
    assert message["state"] == "unreachable"
    assert len(message["error"]) == 200  # bounded; rendered by the page as text, never HTML
    assert "password" not in str(message) and "secret" not in str(message)
    assert relay.ignored == len(hostile)


async def test_the_docs_files_stay_in_their_folder(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        for path in (
            "/docs-assets/%2e%2e/core.py",
            "/docs-assets/..%2f__init__.py",
            "/docs-assets/%2e%2e/%2e%2e/tradepro/config.py",
            "/docs-assets//etc/passwd",
        ):
            response = await api.client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"] == "not_found", path
        page = await api.client.get("/docs")
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy  # no clickjacking of the docs
