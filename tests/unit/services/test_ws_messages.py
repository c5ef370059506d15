"""The WebSocket protocol's messages: what clients may send, what the server renders."""

from __future__ import annotations

import json

import orjson
import pytest

from tradepro.bus.base import Entry
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.services.ws.messages import (
    MAX_CHANNELS_PER_MESSAGE,
    Authenticate,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    order_message,
    parse_client_message,
    price_message,
)

ASSETS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")
TS_US = 1_700_000_000_123_456  # 2023-11-14T22:13:20.123456Z


def parse(message: object) -> object:
    return parse_client_message(orjson.dumps(message).decode(), ASSETS)


def refusal(raw: str | bytes) -> tuple[str, str]:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(raw, ASSETS)
    return caught.value.error, caught.value.message


def test_auth_subscribe_and_unsubscribe_parse() -> None:
    assert parse({"type": "auth", "token": "abc"}) == Authenticate("abc")
    assert parse({"type": "subscribe", "channels": ["prices.BTC_USDC", "orders"]}) == Subscribe(
        frozenset({"prices.BTC_USDC", "orders"})
    )
    assert parse({"type": "unsubscribe", "channels": ["orders", "orders"]}) == Unsubscribe(
        frozenset({"orders"})
    )


@pytest.mark.parametrize(
    ("raw", "error", "says"),
    [
        (b'{"type":"subscribe"}', "invalid_message", "text frames"),
        ("{not json", "invalid_json", "not valid JSON"),
        ("[1, 2]", "invalid_message", '"type"'),
        ('{"channels": ["orders"]}', "invalid_message", '"type"'),
        ('{"type": 7}', "invalid_message", '"type"'),
        ('{"type": "buy"}', "unknown_type", "'buy'"),
        ('{"type": "auth"}', "invalid_message", "token"),
        ('{"type": "auth", "token": ""}', "invalid_message", "token"),
        ('{"type": "subscribe"}', "invalid_message", "channels"),
        ('{"type": "subscribe", "channels": "orders"}', "invalid_message", "channels"),
        ('{"type": "subscribe", "channels": []}', "invalid_message", "channels"),
        ('{"type": "subscribe", "channels": [1]}', "invalid_message", "channels"),
        ('{"type": "subscribe", "channels": ["trades"]}', "unknown_channel", "'trades'"),
        ('{"type": "unsubscribe", "channels": ["prices"]}', "unknown_channel", "'prices'"),
        ('{"type": "subscribe", "channels": ["prices.DOGE_USDC"]}', "unknown_asset",
         "'DOGE_USDC'"),
        ('{"type": "subscribe", "channels": ["prices.btc_usdc"]}', "unknown_asset", "known:"),
    ],
)  # fmt: skip
def test_bad_messages_are_refused_with_a_reason(raw: str | bytes, error: str, says: str) -> None:
    assert refusal(raw)[0] == error
    assert says in refusal(raw)[1]


def test_too_many_channels_and_long_input_are_refused_briefly() -> None:
    many = ["orders"] * (MAX_CHANNELS_PER_MESSAGE + 1)
    assert refusal(orjson.dumps({"type": "subscribe", "channels": many}).decode())[0] == (
        "invalid_message"
    )
    error, message = refusal(orjson.dumps({"type": "x" * 10_000}).decode())
    assert error == "unknown_type" and len(message) < 200


def price_entry(payload: object, kind: str = "price-update") -> Entry:
    return Entry("1700000000123-0", kind, "req-1", TS_US, payload)


def rendered_price(payload: object) -> dict[str, object] | None:
    rendered = price_message(price_entry(payload), DEFAULT_INSTRUMENTS)
    if rendered is None:
        return None
    asset, message = rendered
    decoded: dict[str, object] = orjson.loads(message)
    assert decoded["asset"] == asset
    return decoded


def test_a_price_update_renders_exact_decimal_strings() -> None:
    message = rendered_price({"asset": "BTC_USDC", "bid": "100000.0", "ask": "100000.5"})

    assert message == {
        "type": "price",
        "asset": "BTC_USDC",
        "bid": "100000.0",
        "ask": "100000.5",
        "mid": "100000.25",  # one decimal more than the instrument's 0.1
        "spread": "0.5",
        "ts": "2023-11-14T22:13:20.123Z",
        "simulated": False,
    }


@pytest.mark.parametrize(
    ("asset", "bid", "ask", "mid", "spread"),
    [
        ("BTC_USDC", "64000", "64001.1", "64000.55", "1.1"),
        ("BTC_USDC", "0.1", "0.1", "0.10", "0.0"),
        ("ETH_USDC", "3500.01", "3500.04", "3500.025", "0.03"),
        ("ETH_USDC", 3500, "3500.02", "3500.010", "0.02"),
        ("SOL_USDC", "180.00", "180.01", "180.005", "0.01"),
        ("SOL_USDC", "999999999.99", "1000000000.00", "999999999.995", "0.01"),
    ],
)
def test_mid_and_spread_are_exact_at_the_instrument_scale(
    asset: str, bid: object, ask: str, mid: str, spread: str
) -> None:
    message = rendered_price({"asset": asset, "bid": bid, "ask": ask})

    assert message is not None
    assert (message["mid"], message["spread"]) == (mid, spread)


@pytest.mark.parametrize(("flag", "simulated"), [(True, True), (False, False), ("true", False)])
def test_simulated_comes_from_the_payload(flag: object, simulated: bool) -> None:
    message = rendered_price(
        {"asset": "SOL_USDC", "bid": "180.00", "ask": "180.01", "simulated": flag}
    )

    assert message is not None and message["simulated"] is simulated


@pytest.mark.parametrize(
    "payload",
    [
        {"asset": "DOGE_USDC", "bid": "1", "ask": "2"},
        {"asset": "BTC_USDC", "bid": "100.05", "ask": "101"},  # finer than 0.1
        {"asset": "BTC_USDC", "bid": "101", "ask": "100"},  # crossed
        {"asset": "BTC_USDC", "bid": "0", "ask": "100"},
        {"asset": "BTC_USDC", "bid": 100.5, "ask": "101"},  # floats are never taken
        {"asset": "BTC_USDC", "ask": "101"},
        None,
        [1, 2],
    ],
)
def test_a_price_the_engine_would_refuse_is_not_passed_on(payload: object) -> None:
    assert rendered_price(payload) is None


def test_only_price_update_entries_are_prices() -> None:
    payload = {"asset": "BTC_USDC", "bid": "1", "ask": "2"}
    entry = price_entry(payload, kind="create-order")

    assert price_message(entry, DEFAULT_INSTRUMENTS) is None


ORDER = {"orderId": "o-1", "asset": "BTC_USDC", "side": "buy", "qty": "0.01000"}


@pytest.mark.parametrize("status", ["created", "closed"])
def test_created_and_closed_callbacks_go_to_their_owner(status: str) -> None:
    body = {"id": "r", "status": status, "userId": "u-1", "balance": "1.00", "order": ORDER}

    rendered = order_message(body)

    assert rendered is not None
    user_id, message, seq = rendered
    assert user_id == "u-1" and seq is None
    assert orjson.loads(message) == {"type": "order", "event": status, "order": ORDER}


def test_a_numbered_event_carries_its_seq_and_nothing_of_the_bus() -> None:
    body = {
        "id": "r",
        "status": "closed",
        "userId": "u-1",
        "balance": "1.00",
        "order": ORDER,
        "closedUs": 5,
        "entryId": "1-0",
        "seq": 42,
    }
    rendered = order_message(body)
    assert rendered is not None
    user_id, message, seq = rendered
    assert (user_id, seq) == ("u-1", 42)
    assert orjson.loads(message) == {"type": "order", "event": "closed", "seq": 42, "order": ORDER}


def test_a_numbered_event_without_an_order_shows_its_fields() -> None:
    """A kind added later (a bonus, say) reaches its owner with its own fields."""
    body = {"id": "r", "status": "bonus", "userId": "u-1", "balance": "9.00", "seq": 3}
    rendered = order_message(body)
    assert rendered is not None
    assert orjson.loads(rendered[1]) == {
        "type": "order",
        "event": "bonus",
        "seq": 3,
        "balance": "9.00",
    }


@pytest.mark.parametrize(
    ("message", "since"),
    [
        ({"type": "subscribe", "channels": ["orders"], "since": 0}, 0),
        ({"type": "subscribe", "channels": ["orders", "prices.BTC_USDC"], "since": 7}, 7),
        ({"type": "subscribe", "channels": ["orders"]}, None),
        ({"type": "subscribe", "channels": ["orders"], "since": None}, None),
    ],
)
def test_subscribe_takes_a_since_with_orders(message: dict[str, object], since: int | None) -> None:
    parsed = parse_client_message(orjson.dumps(message).decode(), ["BTC_USDC"])
    assert isinstance(parsed, Subscribe) and parsed.since == since


@pytest.mark.parametrize(
    "since",
    [-1, 2**63, 1.5, "5", True, [], {"seq": 1}, 10**30],
)
def test_a_bad_since_is_refused_with_a_reason(since: object) -> None:
    raw = json.dumps({"type": "subscribe", "channels": ["orders"], "since": since})
    with pytest.raises(ProtocolError, match="since must be an integer") as caught:
        parse_client_message(raw, ["BTC_USDC"])
    assert caught.value.error == "invalid_message"


def test_since_needs_the_orders_channel() -> None:
    raw = '{"type":"subscribe","channels":["prices.BTC_USDC"],"since":3}'
    with pytest.raises(ProtocolError, match="orders channel"):
        parse_client_message(raw, ["BTC_USDC"])


@pytest.mark.parametrize(
    "body",
    [
        {"id": "r", "status": "insufficient_balance", "userId": "u-1", "error": "x"},
        {"id": "r", "status": "account", "userId": "u-1", "orders": []},
        {"id": "r", "status": "created", "order": ORDER},  # no owner
        {"id": "r", "status": "closed", "userId": "u-1"},  # no order
    ],
)
def test_other_callbacks_are_not_order_events(body: dict[str, object]) -> None:
    assert order_message(body) is None
