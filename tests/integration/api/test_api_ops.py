"""``/health`` says whether the engine answers; ``/metrics`` is Prometheus text."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import API, Stack

pytestmark = pytest.mark.integration


HEALTHY = {"status": "ok", "engine": True, "shards": [{"shard": 0, "engine": "ok"}]}
NO_ENGINE = {
    "status": "degraded",
    "engine": False,
    "shards": [{"shard": 0, "engine": "not answering"}],
    "message": "the engine does not answer within 1 s: nobody can trade or read",
}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_health_follows_the_engine(stack: Stack) -> None:
    healthy = await stack.client.get("/health")
    assert healthy.status_code == 200
    assert healthy.json() == HEALTHY
    await stack.stop_engine()
    degraded = await stack.client.get("/health")
    assert degraded.status_code == 503
    assert degraded.json() == NO_ENGINE
    await stack.start_engine()
    assert (await stack.client.get("/health")).json() == HEALTHY


@pytest.mark.engine_running(False)
async def test_health_is_degraded_when_no_engine_ever_ran(embedded: Stack) -> None:
    response = await embedded.client.get("/health")
    assert response.status_code == 503
    assert response.json() == NO_ENGINE


async def metrics_after_some_requests(stack: Stack) -> tuple[str, Samples]:
    client = stack.client
    session = await stack.sign_in()
    for _ in range(3):
        assert (await client.get(f"{API}/balance/me", headers=session.auth)).status_code == 200
    assert (await client.get(f"{API}/balance/me")).status_code == 401
    assert (await client.get(f"{API}/no/such/route/{session.user_id}")).status_code == 404
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return session.user_id, samples(response.text)


def requests_total(found: Samples, route: str, status: str, method: str = "GET") -> float:
    labels = (("method", method), ("route", route), ("status", status))
    return found.get(("tradepro_http_requests_total", labels), 0.0)


async def test_metrics_count_requests_by_route_template(embedded: Stack) -> None:
    user_id, found = await metrics_after_some_requests(embedded)
    routes = {dict(labels).get("route") for _, labels in found}
    # The template, with or without the /api/v1 prefix (see the test below).
    [balance] = [route for route in routes if route and route.endswith("/balance/me")]
    assert requests_total(found, balance, "200") == 3
    assert requests_total(found, balance, "401") == 1
    [signup] = [route for route in routes if route and route.endswith("/auth/signup")]
    assert requests_total(found, signup, "200", "POST") == 1
    # Unknown paths share one label: no series per path a client makes up.
    assert requests_total(found, "unmatched", "404") == 1
    assert not any(user_id in str(key) for key in found)
    assert found[("tradepro_http_request_seconds_count", (("route", balance),))] == 4


async def test_metrics_label_routes_by_their_full_path(embedded: Stack) -> None:
    _, found = await metrics_after_some_requests(embedded)
    assert requests_total(found, f"{API}/balance/me", "200") == 3


async def test_metrics_count_the_callbacks_this_process_parsed(embedded: Stack) -> None:
    """Each awaited reply is parsed by the process that asked; the counters show how many
    callbacks it parsed and how many it passed over (other processes' replies)."""
    _, found = await metrics_after_some_requests(embedded)
    # The three balance reads and the sign-up's registration were replies to this process.
    assert found[("tradepro_callbacks_decoded_total", ())] >= 4
    assert ("tradepro_callbacks_skipped_total", ()) in found
