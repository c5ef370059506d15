"""The fast path answers every request exactly as FastAPI does without it.

Two copies of the app, one with the fast path (the real one) and one without, each get the
same requests in the same order; an engine stand-in answers both alike (orders, rejections,
a timeout, the bus down). Generated requests mix good and bad sessions, bodies, content
types, headers and query strings. Status, body and the headers a client reads must match,
and the fast path must have answered the plain requests itself (it is not a pass-through).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Request
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api_app import SECRET, Api, running_api
from tradepro.api.app import create_app
from tradepro.api.deps import Context, CurrentUser
from tradepro.api.fastpath import FastPath, NotFastError
from tradepro.api.readlimit import ReadLimiter
from tradepro.bus.base import BusUnavailableError
from tradepro.bus.requests import RequestTimeoutError
from tradepro.db.migrate import upgrade
from tradepro.security.tokens import SESSION, issue

USER = "7d7c6f7e-0b7a-4e0c-9d59-111111111111"
TOKEN_TTL_S = 7 * 24 * 3600
"""Made when the module is collected: a whole suite on a busy machine takes longer than
ten minutes before these tests run, and an expired session would answer 401."""
GOOD = issue(SECRET, SESSION, USER, "fast@example.com", TOKEN_TTL_S)[0]
LINK = issue(SECRET, "link", USER, "fast@example.com", TOKEN_TTL_S)[0]


class EngineStandIn:
    """Answers like the engine, deterministically, from the request alone."""

    def __init__(self) -> None:
        self.orders = 0
        self.calls: list[str] = []

    def subscribe(self, subscriber: Any, statuses: Any = None) -> Any:
        return lambda: None

    async def send_request_and_wait(
        self, kind: str, payload: dict[str, Any], *, request_id: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        self.calls.append(kind)
        qty = str(payload.get("qty", ""))
        if qty.startswith("7"):
            raise RequestTimeoutError("no reply")
        if qty.startswith("9"):
            raise BusUnavailableError("bus down")
        if qty.startswith("5"):
            return {"status": "insufficient_balance", "message": "not enough balance"}
        if kind == "create-order":
            self.orders += 1
            return {"status": "created", "order": self._order(payload, self.orders)}
        if kind == "close-order":
            if payload["orderId"] == "missing":
                return {"status": "order_not_found", "message": "no such open order"}
            order = {"orderId": payload["orderId"], "closePrice": "95000.0", "pnl": "-1.25",
                     "reason": "user", "qty": "0.00100"}  # fmt: skip
            return {"status": "closed", "order": order, "balance": "5000.00"}
        orders = [self._order({"qty": "0.01", "asset": "BTC_USDC", "side": "sell"}, n)
                  | {"unrealizedPnl": "0.50"} for n in range(2)]  # fmt: skip
        reply = {"status": "account", "balance": "5000.00", "lockedMargin": "19.00",
                 "equity": "5019.50", "extra": "dropped by the response model"}  # fmt: skip
        return reply | ({"orders": orders} if payload.get("orders", True) else {})

    @staticmethod
    def _order(payload: dict[str, Any], n: int) -> dict[str, Any]:
        return {
            "orderId": f"00000000-0000-4000-8000-{n:012d}", "asset": payload["asset"],
            "side": payload["side"], "qty": payload["qty"], "leverage": 10,
            "openPrice": "95000.5", "slippage": payload.get("slippage"),
            "createdAt": "2026-11-22T03:00:00.000Z", "margin": "9.50",
            "liquidationPrice": "86000.0", "takeProfit": payload.get("takeProfit"),
            "stopLoss": None, "internal": "not in the response model",
        }  # fmt: skip


@asynccontextmanager
async def twin(tmp_path: Path, fast_path: bool) -> AsyncIterator[Api]:
    async with running_api(tmp_path, fast_path=fast_path) as api:
        await upgrade(api.settings.effective_database_url)
        api.context.requester = EngineStandIn()  # type: ignore[assignment]
        api.context.settings = api.settings.model_copy(update={"order_limit_per_s": 10**6})
        api.context.reads = ReadLimiter(10**6, 10**6)  # (timing must not tell the twins apart)
        yield api


@pytest.fixture
async def twins(tmp_path: Path) -> AsyncIterator[tuple[Api, Api]]:
    async with AsyncExitStack() as stack:
        fast = await stack.enter_async_context(twin(tmp_path / "fast", True))
        plain = await stack.enter_async_context(twin(tmp_path / "plain", False))
        yield fast, plain


SESSIONS = st.sampled_from(
    [
        *[{"authorization": f"Bearer {GOOD}"}] * 3,
        {"authorization": f"bearer {GOOD}"},
        {"cookie": f"token={GOOD}"},
        {"authorization": "Basic abc"},
        {},
        {"authorization": "Bearer"},
        {"authorization": f"Bearer {GOOD[:-2]}xx"},
        {"authorization": f"Bearer {LINK}"},
    ]
)
WORDS = ["BTC_USDC", "ETH_USDC", "DOGE", "buy", "sell", "0.001", "1e-3", "0.12345678901", "-1",
         "0", "NaN", "Infinity", "5", "7", "9", "95000.0", "", " 1"]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(WORDS),
    st.integers(-3, 2000),
    st.sampled_from([0.5, 1.25, 10**30, True, None, [], {}]),
)
FIELDS = ("asset", "side", "qty", "leverage", "takeProfit", "stopLoss", "price", "slippage")
GOOD_ORDER = {"asset": "BTC_USDC", "side": "buy", "qty": "0.001", "leverage": 10}
BODIES = st.one_of(
    st.just(GOOD_ORDER),
    st.just(GOOD_ORDER | {"qty": "0.002", "takeProfit": "99000.0"}),
    st.dictionaries(st.sampled_from(FIELDS), VALUES).map(lambda changes: GOOD_ORDER | changes),
    st.dictionaries(st.sampled_from((*FIELDS, "orderId", "bogus")), VALUES, max_size=5),
    st.just({"orderId": "00000000-0000-4000-8000-000000000001"}),
    st.just({"orderId": "missing"}),
    st.just([1, 2]),
    st.just("text"),
)
DEEP = b'{"orderId":' + b"[" * 5000 + b"]" * 5000 + b"}"
"""Nested past the JSON decoder's recursion limit."""
RAW = st.sampled_from([b"", b"{", b"not json", b'{"qty": NaN}', b"\xff\xfe", b"null", DEEP])
CONTENT_TYPES = st.sampled_from(
    [
        *["application/json"] * 3,
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "text/plain",
        "application/merge-patch+json",
        None,
    ]
)
ROUTES = st.sampled_from(
    [
        ("POST", "/api/v1/trade/create-order"),
        ("POST", "/api/v1/trade/close-order"),
        ("GET", "/api/v1/trade/get-open-orders"),
        ("GET", "/api/v1/trade/get-close-orders"),
        ("GET", "/api/v1/balance/me"),
        ("POST", "/api/v1/balance/me"),
    ]
)
QUERIES = st.sampled_from(
    [
        *["", "limit=5", "limit=0", "cursor=bad", "limit=x&cursor=1.2", "other=1"],
        "cursor=999999999999999999.3f1c1d2e-0000-4000-8000-000000000000",
        "cursor=%C2%B2.3f1c1d2e-0000-4000-8000-000000000000",
    ]
)
EXTRA_HEADERS = st.sampled_from(
    [{}, {}, {"idempotency-key": "k1"}, {"idempotency-key": "k2"}, {"idempotency-key": "k" * 200}]
)


def comparable(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    try:
        body: Any = response.json()
    except json.JSONDecodeError:
        body = response.text
    headers = {name: response.headers[name] for name in ("content-type", "retry-after",
               "www-authenticate", "allow") if name in response.headers}  # fmt: skip
    return response.status_code, body, headers


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=ROUTES, session=SESSIONS, body=st.one_of(BODIES, BODIES, RAW), content_type=CONTENT_TYPES,
    query=QUERIES, extra=EXTRA_HEADERS,
)  # fmt: skip
async def test_every_request_gets_the_same_answer_with_and_without_the_fast_path(
    twins: tuple[Api, Api], route: tuple[str, str], session: dict[str, str], body: Any,
    content_type: str | None, query: str, extra: dict[str, str],
) -> None:  # fmt: skip
    method, path = route
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = session | extra | ({"content-type": content_type} if content_type else {})
    url = f"{path}?{query}" if query else path
    answers = [
        comparable(
            await asyncio.wait_for(
                api.client.request(method, url, content=content, headers=headers), 10
            )
        )
        for api in twins
    ]
    assert answers[0] == answers[1]


def fast_path_of(api: Api) -> FastPath:
    layer: Any = api.app.middleware_stack
    while not isinstance(layer, FastPath):
        layer = layer.app
    return layer


async def test_plain_requests_take_the_fast_path(twins: tuple[Api, Api]) -> None:
    fast, _ = twins
    auth = {"authorization": f"Bearer {GOOD}"}

    async def status(method: str, path: str, body: Any = None, **headers: str) -> int:
        response = await fast.client.request(method, path, json=body, headers=headers or auth)
        return response.status_code

    created = await fast.client.post("/api/v1/trade/create-order", json=GOOD_ORDER, headers=auth)
    closing = {"orderId": created.json()["orderId"]}
    assert await status("POST", "/api/v1/trade/close-order", closing) == 200
    assert await status("GET", "/api/v1/trade/get-open-orders") == 200
    assert await status("GET", "/api/v1/trade/get-close-orders") == 200
    assert await status("GET", "/api/v1/balance/me") == 200
    refused = GOOD_ORDER | {"qty": "5"}  # the engine stand-in's insufficient balance
    assert await status("POST", "/api/v1/trade/create-order", refused) == 409
    fast_path = fast_path_of(fast)
    assert (fast_path.answered, fast_path.passed_on) == (6, 0)
    # What it is unsure of goes to FastAPI: an invalid body, no session, a query string.
    assert await status("POST", "/api/v1/trade/create-order", {"qty": 1}) == 422
    assert await status("GET", "/api/v1/balance/me", cookie="") == 401
    assert await status("GET", "/api/v1/trade/get-close-orders?limit=5") == 200
    assert (fast_path.answered, fast_path.passed_on) == (6, 3)


async def with_request(request: Request, user: CurrentUser, context: Context) -> dict[str, str]:
    return {}


def test_a_route_the_fast_path_cannot_take_is_refused_when_the_app_is_built() -> None:
    route = APIRoute("/x", with_request, response_model=dict[str, str])
    with pytest.raises(NotFastError, match="request"):
        FastPath(create_app, [route])  # type: ignore[arg-type]
