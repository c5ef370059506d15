"""Request validation: every bad value is a 422 ``validation_error`` naming its field.

The app runs without an engine (see ``conftest``): a request that passes validation gets a
504 after a fraction of a second, so the valid controls here prove the rules let good
orders through, and a rule that wrongly lets a bad one through fails with 504, not 422.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.api_app import Api
from tradepro.api.app import MAX_BODY_BYTES

CREATE = "/api/v1/trade/create-order"
CLOSE = "/api/v1/trade/close-order"
HISTORY = "/api/v1/trade/get-close-orders"
ORDER: dict[str, Any] = {"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10}
MISSING = object()


def assert_names(response: httpx.Response, field: str) -> str:
    """A 422 ``validation_error`` whose message starts by naming ``field``."""
    assert response.status_code == 422, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == "validation_error", body
    message: str = body["message"]
    assert re.match(rf"{re.escape(field)}\b", message), body
    return message


BAD_ORDERS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown asset", {"asset": "DOGE_USDC"}, "asset"),
    ("asset not a string", {"asset": 7}, "asset"),
    ("asset missing", {"asset": MISSING}, "asset"),
    ("bad side", {"side": "long"}, "side"),
    ("side upper case", {"side": "BUY"}, "side"),
    ("leverage 0", {"leverage": 0}, "leverage"),
    ("leverage 101", {"leverage": 101}, "leverage"),
    ("leverage 1001", {"leverage": 1001}, "leverage"),
    ("leverage negative", {"leverage": -5}, "leverage"),
    ("leverage a string", {"leverage": "10.5"}, "leverage"),
    ("leverage an integral string", {"leverage": "10"}, "leverage"),
    ("leverage a boolean", {"leverage": True}, "leverage"),
    ("qty too many decimals", {"qty": "0.000001"}, "qty"),
    ("qty too many decimals, SOL", {"asset": "SOL_USDC", "qty": "0.001"}, "qty"),
    ("qty zero string", {"qty": "0"}, "qty"),
    ("qty zero decimal string", {"qty": "0.00000"}, "qty"),
    ("qty zero number", {"qty": 0}, "qty"),
    ("qty negative string", {"qty": "-0.01"}, "qty"),
    ("qty negative number", {"qty": -1}, "qty"),
    ("qty NaN string", {"qty": "NaN"}, "qty"),
    ("qty Infinity string", {"qty": "Infinity"}, "qty"),
    ("qty exponent string", {"qty": "1e400"}, "qty"),
    ("qty huge string", {"qty": "99999999999999999999"}, "qty"),
    ("qty huge number", {"qty": 10**30}, "qty"),
    ("qty too long string", {"qty": "0." + "0" * 60 + "1"}, "qty"),
    ("qty empty string", {"qty": ""}, "qty"),
    ("qty with spaces", {"qty": " 0.01"}, "qty"),
    ("qty with underscores", {"qty": "1_0"}, "qty"),
    ("qty non-ASCII digits", {"qty": "\u0661"}, "qty"),
    ("qty a boolean", {"qty": True}, "qty"),
    ("qty a list", {"qty": ["0.01"]}, "qty"),
    ("qty null", {"qty": None}, "qty"),
    ("qty missing", {"qty": MISSING}, "qty"),
    ("take-profit too many decimals", {"takeProfit": "110000.05"}, "takeProfit"),
    ("take-profit zero", {"takeProfit": "0"}, "takeProfit"),
    ("stop-loss negative", {"stopLoss": -90000}, "stopLoss"),
    ("stop-loss NaN", {"stopLoss": "nan"}, "stopLoss"),
    ("price without slippage", {"price": "100000.0"}, "price"),
    ("slippage without price", {"slippage": 10}, "price"),
    ("price not a number", {"price": "abc", "slippage": 10}, "price"),
    ("slippage negative", {"price": "100000.0", "slippage": -1}, "slippage"),
    ("slippage over 100 %", {"price": "100000.0", "slippage": 10_001}, "slippage"),
    ("slippage fractional", {"price": "100000.0", "slippage": "2.5"}, "slippage"),
    ("an extra field", {"userId": "someone-else"}, "userId"),
]


@pytest.mark.parametrize(
    ("change", "field"), [case[1:] for case in BAD_ORDERS], ids=[case[0] for case in BAD_ORDERS]
)
async def test_a_bad_order_is_a_422_naming_the_field(
    api: Api, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in (ORDER | change).items() if v is not MISSING}
    response = await api.client.post(CREATE, json=body, headers=api.auth)
    assert_names(response, field)


RAW_NUMBERS = [
    ("qty 1e400", '"qty": 1e400', "qty"),
    ("qty -1e400", '"qty": -1e400', "qty"),
    ("qty 1e-400", '"qty": 1e-400', "qty"),
    ("qty 1E+39", '"qty": 1E+39', "qty"),
    ("qty 0.000001", '"qty": 0.000001', "qty"),
    ("qty 0.0", '"qty": 0.0', "qty"),
    ("qty -0.01", '"qty": -0.01', "qty"),
    ("qty huge integer", '"qty": ' + "9" * 400, "qty"),
    ("take-profit 0.05 too fine", '"takeProfit": 110000.05', "takeProfit"),
    ("leverage 10.0", '"leverage": 10.0', "leverage"),
    ("leverage 1e1", '"leverage": 1e1', "leverage"),
]


@pytest.mark.parametrize(
    ("member", "field"), [case[1:] for case in RAW_NUMBERS], ids=[case[0] for case in RAW_NUMBERS]
)
async def test_json_numbers_are_checked_exactly(api: Api, member: str, field: str) -> None:
    defaults = '"asset": "BTC_USDC", "side": "buy", "leverage": 10, "qty": "0.01"'
    name = member.split(":", maxsplit=1)[0]
    kept = ", ".join(part for part in defaults.split(", ") if not part.startswith(name))
    response = await api.client.post(
        CREATE,
        content=f"{{{kept}, {member}}}".encode(),
        headers=api.auth | {"Content-Type": "application/json"},
    )
    assert_names(response, field)


async def assert_reaches_the_engine(api: Api, content: bytes) -> None:
    response = await api.client.post(
        CREATE, content=content, headers=api.auth | {"Content-Type": "application/json"}
    )
    # No engine runs here: an order that passes validation times out waiting for it.
    assert response.status_code == 504, (response.status_code, response.text)
    assert response.json()["error"] == "timeout"


@pytest.mark.parametrize(
    "content",
    [
        b'{"asset": "BTC_USDC", "side": "buy", "qty": "0.01", "leverage": 10}',
        b'{"asset": "BTC_USDC", "side": "sell", "qty": 0.01, "leverage": 100}',
        b'{"asset": "SOL_USDC", "side": "buy", "qty": 0.3, "leverage": 1}',
        b'{"asset": "SOL_USDC", "side": "buy", "qty": 2, "leverage": 1}',
        b'{"asset": "ETH_USDC", "side": "buy", "qty": "1.50000", "leverage": 3,'
        b' "takeProfit": 4000.10, "stopLoss": "3000", "price": 3500.5, "slippage": 0}',
        b'{"asset": "BTC_USDC", "side": "buy", "qty": 1E-5, "leverage": 10}',
    ],
    ids=["strings", "numbers", "SOL 0.3", "integer qty", "every field", "exponent"],
)
async def test_valid_orders_pass_validation(api: Api, content: bytes) -> None:
    await assert_reaches_the_engine(api, content)


@pytest.mark.parametrize(
    ("member", "valid"),
    [("0.1" + "0" * 70, True), ("0." + "1" * 5000, False)],
    ids=["0.1 with 70 zeros", "5000 digits"],
)
async def test_long_json_numbers_are_never_a_500(api: Api, member: str, valid: bool) -> None:
    content = f'{{"asset": "SOL_USDC", "side": "buy", "leverage": 2, "qty": {member}}}'.encode()
    if valid:
        await assert_reaches_the_engine(api, content)
    else:
        response = await api.client.post(
            CREATE, content=content, headers=api.auth | {"Content-Type": "application/json"}
        )
        assert_names(response, "qty")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_literals_are_a_422_naming_the_field(
    api: Api, constant: str
) -> None:
    content = f'{{"asset": "BTC_USDC", "side": "buy", "leverage": 2, "qty": {constant}}}'
    response = await api.client.post(
        CREATE, content=content.encode(), headers=api.auth | {"Content-Type": "application/json"}
    )
    assert_names(response, "qty")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"orderId": 123}, "orderId"),
        ({"orderId": None}, "orderId"),
        ({}, "orderId"),
        ({"orderId": "x" * 65}, "orderId"),
        ({"orderId": "3f1c1d2e-0000-4000-8000-000000000000", "userId": "x"}, "userId"),
    ],
    ids=["number", "null", "missing", "too long", "extra field"],
)
async def test_a_bad_close_order_is_a_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = await api.client.post(CLOSE, json=body, headers=api.auth)
    assert_names(response, field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "123.short-id"}, "cursor"),
        ({"cursor": "x" * 201}, "cursor"),
    ],
)
async def test_bad_history_queries_are_a_422_naming_the_parameter(
    api: Api, params: dict[str, Any], field: str
) -> None:
    response = await api.client.get(HISTORY, params=params, headers=api.auth)
    assert_names(response, field)


async def test_sign_up_needs_an_email_address(api: Api) -> None:
    for body in ({"email": "nobody"}, {"email": 5}, {}, {"email": "a@b.co", "extra": 1}):
        response = await api.client.post("/api/v1/auth/signup", json=body)
        assert_names(response, "extra" if "extra" in body else "email")


async def test_a_body_over_the_size_limit_is_refused_unread(api: Api) -> None:
    padding = "0" * MAX_BODY_BYTES
    huge = ORDER | {"takeProfit": f"1{padding}"}
    declared = await api.client.post(CREATE, json=huge, headers=api.auth)  # Content-Length

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        encoded = json.dumps(huge).encode()
        for start in range(0, len(encoded), 4096):
            yield encoded[start : start + 4096]

    for path in (CREATE, CLOSE, "/api/v1/auth/signup"):  # fast path and FastAPI
        streamed = await api.client.post(path, content=chunks(), headers=api.auth)
        for response in (declared, streamed):
            assert response.status_code == 413, (path, response.text)
            assert response.json() == {
                "error": "too_large",
                "message": f"the request body is over the limit of {MAX_BODY_BYTES} bytes",
            }
    just_under = ORDER | {"takeProfit": "1" + "0" * (MAX_BODY_BYTES - 200)}
    assert_names(await api.client.post(CREATE, json=just_under, headers=api.auth), "takeProfit")
