"""Backpack's protocol: the subscribe request, and every message classified, never raised."""

from __future__ import annotations

import decimal
import re
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradepro.domain.fixed import format_scaled
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS
from tradepro.feeds.backpack import (
    BookTicker,
    Dropped,
    DropReason,
    SubscriptionReply,
    parse_message,
    stream_name,
    subscribe_message,
)

INSTRUMENTS = DEFAULT_INSTRUMENTS


def message(symbol: str = "BTC_USDC", bid: object = "95000.1", ask: object = "95000.3",
            **data: object) -> dict[str, Any]:  # fmt: skip
    """A book ticker as docs/architecture.md "Price feed" shows it; ``data`` overrides fields."""
    body: dict[str, Any] = {
        "e": "bookTicker", "E": 1694687965941000, "s": symbol, "a": ask, "A": "1.000",
        "b": bid, "B": "2.000", "u": 111063070525358080, "T": 1694687965940999,
    }  # fmt: skip
    body.update(data)
    return {"stream": f"bookTicker.{symbol}", "data": body}


def parse(value: object) -> object:
    return parse_message(orjson.dumps(value), INSTRUMENTS)


def test_subscribe_asks_for_every_book_ticker_in_one_request() -> None:
    text = subscribe_message(["BTC_USDC", "SOL_USDC"], 7)
    assert orjson.loads(text) == {
        "method": "SUBSCRIBE",
        "params": ["bookTicker.BTC_USDC", "bookTicker.SOL_USDC"],
        "id": 7,
    }
    assert stream_name("ETH_USDC") == "bookTicker.ETH_USDC"


def test_a_book_ticker_becomes_exact_integer_ticks() -> None:
    parsed = parse(message("BTC_USDC", "95000.1", "95000.3"))
    assert parsed == BookTicker("BTC_USDC", 950001, 950003, 1694687965941000)
    sol = parse(message("SOL_USDC", "18.67", "18.70"))
    assert sol == BookTicker("SOL_USDC", 1867, 1870, 1694687965941000)


def test_text_frames_and_string_timestamps_are_read_too() -> None:
    # Recorded messages carry E/T/u as strings; both shapes are Backpack's.
    text = orjson.dumps(message("ETH_USDC", "3667.49", "3667.50", E="1754517402450016"))
    parsed = parse_message(text.decode(), INSTRUMENTS)
    assert parsed == BookTicker("ETH_USDC", 366749, 366750, 1754517402450016)


def test_trailing_zeros_are_exact_but_finer_prices_are_malformed() -> None:
    assert parse(message("ETH_USDC", "3680.520000000", "3680.53")) == BookTicker(
        "ETH_USDC", 368052, 368053, 1694687965941000
    )
    finer = parse(message("BTC_USDC", "95000.15", "95000.3"))
    assert isinstance(finer, Dropped) and finer.reason is DropReason.MALFORMED
    assert "decimal places" in finer.detail


@pytest.mark.parametrize(
    "bad_price", [95000.1, 95000, None, "", "abc", "-95000.1", "0", "1e5", "NaN", " 1", "1." * 30]
)
def test_prices_must_be_positive_decimal_strings(bad_price: object) -> None:
    parsed = parse(message(bid=bad_price))
    assert isinstance(parsed, Dropped) and parsed.reason is DropReason.MALFORMED


def test_a_crossed_quote_is_dropped_and_a_locked_one_kept() -> None:
    crossed = parse(message(bid="95000.4", ask="95000.3"))
    assert isinstance(crossed, Dropped) and crossed.reason is DropReason.CROSSED
    locked = parse(message(bid="95000.3", ask="95000.3"))
    assert isinstance(locked, BookTicker) and locked.bid == locked.ask


def test_an_unknown_market_is_told_apart_from_a_malformed_message() -> None:
    unknown = parse(message("DOGE_USDC", "0.1", "0.2"))
    assert isinstance(unknown, Dropped) and unknown.reason is DropReason.UNKNOWN_SYMBOL


@pytest.mark.parametrize(
    "shape",
    [
        {"stream": "bookTicker.ETH_USDC", "data": message("BTC_USDC")["data"]},  # mismatch
        {"stream": "bookTicker.BTC_USDC"},
        {"data": message()["data"]},
        {"stream": "bookTicker.BTC_USDC", "data": [1, 2]},
        message(e="depth"),
        message(s=None),
        [message()],
        "bookTicker",
        42,
        {},
    ],
)
def test_other_shapes_are_malformed(shape: object) -> None:
    parsed = parse(shape)
    assert isinstance(parsed, Dropped) and parsed.reason is DropReason.MALFORMED


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"", "[" * 5000, b'{"a": 1'])
def test_bytes_that_are_not_json_are_malformed(raw: bytes | str) -> None:
    parsed = parse_message(raw, INSTRUMENTS)
    assert isinstance(parsed, Dropped) and parsed.reason is DropReason.MALFORMED


def test_an_oversized_message_is_dropped_unread() -> None:
    big = orjson.dumps(message(A="1" * 100_000))
    parsed = parse_message(big, INSTRUMENTS)
    assert isinstance(parsed, Dropped) and "too long" in parsed.detail


def test_subscription_replies_are_not_quotes() -> None:
    refused = parse({"id": 3, "error": {"code": 4006, "message": "Invalid stream"}})
    assert refused == SubscriptionReply(3, "4006 Invalid stream")
    assert parse({"id": None, "error": "bad"}) == SubscriptionReply(None, "bad")
    assert parse({"id": 4, "result": None}) == SubscriptionReply(4, None)


# -- properties ----------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_are_classified_without_raising(raw: bytes) -> None:
    assert isinstance(parse_message(raw, INSTRUMENTS), Dropped | SubscriptionReply | BookTicker)


@settings(max_examples=200)
@given(JSON)
def test_any_json_is_classified_without_raising(value: object) -> None:
    parsed = parse(value)
    assert isinstance(parsed, Dropped | SubscriptionReply)  # random JSON is never a quote


def price_texts() -> st.SearchStrategy[object]:
    whole = st.integers(0, 10**19).map(str)
    fraction = st.text("0123456789", min_size=1, max_size=4)
    decimal_text = st.builds(lambda w, f: f"{w}.{f}", whole, fraction)
    return st.one_of(
        whole, decimal_text, st.text(max_size=8), st.integers(-5, 10**6), st.floats(), st.none()
    )


ODD_VALUES: dict[str, list[object]] = {
    "stream": ["trade.BTC_USDC", "bookTicker.ETH_USDC", "bookTicker.DOGE_USDC", "", 5],
    "e": ["depth", "", None, 1],
    "s": ["DOGE_USDC", "ETH_USDC", "btc_usdc", "", None, 1, ["BTC_USDC"]],
    "E": [-1, "x", "", True, None, 1.5, "1754517402450016", 0],
}


@st.composite
def book_tickers(draw: st.DrawFn) -> dict[str, Any]:
    """A valid book ticker (any market, prices, zero padding), then 0-2 random mutations."""
    symbol = draw(st.sampled_from(list(INSTRUMENTS)))
    decimals = INSTRUMENTS[symbol].price_decimals
    bid = draw(st.integers(1, 10**12))
    ask = bid + draw(st.integers(0, 10**4))

    def text(ticks: int) -> str:
        rendered = format_scaled(ticks, decimals)
        return rendered + "0" * draw(st.integers(0, 3)) if decimals else rendered

    data: dict[str, Any] = {
        "e": "bookTicker", "E": draw(st.integers(0, 2**62)), "s": symbol, "a": text(ask),
        "A": "1.000", "b": text(bid), "B": "2.000", "u": draw(st.integers(0, 2**62)), "T": 1,
    }  # fmt: skip
    candidate: dict[str, Any] = {"stream": f"bookTicker.{symbol}", "data": data}
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(["stream", "e", "s", "E", "a", "b", "swap", "delete"]))
        if key == "swap":  # (either may have been deleted by an earlier mutation)
            ask_text, bid_text = data.pop("a", None), data.pop("b", None)
            data.update({k: v for k, v in (("a", bid_text), ("b", ask_text)) if v is not None})
        elif key == "delete":
            data.pop(draw(st.sampled_from(["e", "s", "a", "b", "E"])), None)
        elif key in ("a", "b"):
            data[key] = draw(price_texts())
        elif key == "stream":
            candidate["stream"] = draw(st.sampled_from(ODD_VALUES["stream"]))
        else:
            data[key] = draw(st.sampled_from(ODD_VALUES[key]))
    return candidate


def exact_ticks(text: object, decimals: int) -> int | None:
    """Reference rule: a plain positive decimal string, exact at the scale, fits 64 bits."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return None
    with decimal.localcontext(prec=100):
        value = Decimal(text).scaleb(decimals)
    if value != value.to_integral_value() or not 0 < value <= 10**18:
        return None
    return int(value)


def expected(candidate: dict[str, Any]) -> BookTicker | None:
    data = candidate["data"]
    symbol = data.get("s")
    if data.get("e") != "bookTicker" or not isinstance(symbol, str):
        return None
    if symbol not in INSTRUMENTS or candidate["stream"] != f"bookTicker.{symbol}":
        return None
    decimals = INSTRUMENTS[symbol].price_decimals
    bid, ask = exact_ticks(data.get("b"), decimals), exact_ticks(data.get("a"), decimals)
    if bid is None or ask is None or bid > ask:
        return None
    raw_time = data.get("E")
    event_us = None
    if type(raw_time) is int and raw_time >= 0:
        event_us = raw_time
    elif isinstance(raw_time, str) and re.fullmatch(r"[0-9]{1,20}", raw_time):
        event_us = int(raw_time)
    return BookTicker(symbol, bid, ask, event_us)


@settings(max_examples=500)
@given(book_tickers())
def test_exactly_the_valid_book_tickers_become_quotes(candidate: dict[str, Any]) -> None:
    parsed = parse(candidate)
    want = expected(candidate)
    if want is None:
        assert isinstance(parsed, Dropped)
    else:
        assert parsed == want
