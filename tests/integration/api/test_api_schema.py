"""Schemathesis against ``/openapi.json`` of a live API, signed in as a real user.

Every operation gets generated valid and invalid requests (Bearer header of a signed-in
user, prices published for every asset, so orders can reach the engine). No response may be
a 5xx, and every response must conform to the schema: documented status, content type,
headers and body. ``positive_data_acceptance`` is left out on purpose: a schema-valid order
may still break a domain rule the schema cannot state (an unlisted asset, more decimals
than the instrument's, more leverage than its cap, not enough balance), answered with a
documented 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.support.api import Mailbox, Session, Stack, stack_settings
from tests.support.live_server import LiveServer
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Session]]:
    mailbox = Mailbox()
    smtp_port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    folder: Path = tmp_path_factory.mktemp("schema-stack")
    server = LiveServer(Stack("embedded", stack_settings(folder, smtp_port), mailbox))
    try:
        server.start()
        session = server.call(server.stack.sign_in())
        for asset, bid, ask in (
            ("BTC_USDC", "100000.0", "100001.0"),
            ("ETH_USDC", "3500.00", "3500.10"),
            ("SOL_USDC", "150.00", "150.01"),
        ):
            server.publish_price(asset, bid, ask)
        yield server, session
    finally:
        server.stop()
        controller.stop()


OPERATIONS = [
    ("POST", "/api/v1/auth/signup"),
    ("GET", "/api/v1/auth/signin/verify"),
    ("POST", "/api/v1/auth/signin/verify"),
    ("POST", "/api/v1/auth/signout"),
    ("GET", "/api/v1/auth/protected-route-test"),
    ("POST", "/api/v1/trade/create-order"),
    ("POST", "/api/v1/trade/close-order"),
    ("GET", "/api/v1/trade/get-open-orders"),
    ("GET", "/api/v1/trade/get-close-orders"),
    ("GET", "/api/v1/trade/get-pending-orders"),
    ("POST", "/api/v1/trade/cancel-order"),
    ("POST", "/api/v1/trade/amend-order"),
    ("POST", "/api/v1/trade/modify-order"),
    ("POST", "/api/v1/trade/close-all"),
    ("GET", "/api/v1/trade/get-order-history"),
    ("GET", "/api/v1/balance/me"),
    ("GET", "/api/v1/trade/export.csv"),
    ("GET", "/api/v1/account/stats"),
    ("GET", "/api/v1/account/portfolio-history"),
    ("POST", "/api/v1/account/reset"),
    ("POST", "/api/v1/account/deposit"),
    ("GET", "/api/v1/account/limits"),
    ("GET", "/api/v1/account/events"),
    ("POST", "/api/v1/auth/api-keys"),
    ("GET", "/api/v1/auth/api-keys"),
    ("DELETE", "/api/v1/auth/api-keys/{key_id}"),
    ("GET", "/api/v1/candles"),
    ("GET", "/api/v1/instruments"),
    ("GET", "/api/v1/config"),
    ("GET", "/health"),
]
TAKES_INPUT = {
    ("POST", "/api/v1/auth/signup"),
    ("GET", "/api/v1/auth/signin/verify"),
    ("POST", "/api/v1/auth/signin/verify"),
    ("POST", "/api/v1/trade/create-order"),
    ("POST", "/api/v1/trade/close-order"),
    ("GET", "/api/v1/trade/get-close-orders"),
    ("POST", "/api/v1/trade/cancel-order"),
    ("POST", "/api/v1/trade/amend-order"),
    ("POST", "/api/v1/trade/modify-order"),
    ("POST", "/api/v1/trade/close-all"),
    ("GET", "/api/v1/trade/get-order-history"),
    ("GET", "/api/v1/trade/export.csv"),
    ("POST", "/api/v1/account/reset"),
    ("POST", "/api/v1/account/deposit"),
    ("POST", "/api/v1/auth/api-keys"),
    ("DELETE", "/api/v1/auth/api-keys/{key_id}"),
    ("GET", "/api/v1/candles"),
    ("GET", "/api/v1/account/portfolio-history"),
    ("GET", "/api/v1/account/events"),
}
"""Operations with parameters or a body: the others have no invalid input to generate."""


@pytest.fixture(scope="module")
def api_schema(live: tuple[LiveServer, Session]) -> OpenApiSchema:
    server, _ = live
    loaded = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    assert isinstance(loaded, OpenApiSchema)
    return loaded


def test_the_schema_documents_every_route(api_schema: OpenApiSchema) -> None:
    documented = set()
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result  # every operation's definition is valid
        documented.add((result.ok().method.upper(), result.ok().path))
    assert documented == set(OPERATIONS)


CASES = [
    pytest.param(method, path, mode, id=f"{mode.value}-{method} {path}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or (method, path) in TAKES_INPUT
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_every_route_conforms_to_the_schema(
    live: tuple[LiveServer, Session],
    api_schema: OpenApiSchema,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    server, session = live
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode, headers=session.auth))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def conforms(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(base_url=server.base_url, checks=CHECKS)

    conforms()
