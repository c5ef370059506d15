"""Backpack's public WebSocket protocol, as pure functions: subscribe, and parse a message.

Backpack (``wss://ws.backpack.exchange``) takes ``{"method":"SUBSCRIBE","params":[...],
"id":N}`` and sends nothing back when it works; a bad request is answered with
``{"id":N,"error":{"code":...,"message":...}}`` (e.g. code 4006, "Invalid stream"). Every
stream message is wrapped as ``{"stream":"bookTicker.BTC_USDC","data":{...}}`` where the
book ticker ``data`` is ``{"e":"bookTicker","E":<µs>,"s":"BTC_USDC","a":"<ask>",
"A":"<ask qty>","b":"<bid>","B":"<bid qty>","u":<update id>,"T":<µs>}``. Timestamps and
the update id come as JSON integers in Backpack's documentation and as digit strings in
messages other clients have recorded; both are read.

Prices are taken exactly, never rounded: Backpack renders them on the market's own tick
grid (``"18.70"``; trailing zeros such as ``"3680.520000000"`` are fine), so a price with
more significant decimals than our instrument table allows means the table no longer
matches the exchange's ``tickSize`` filter. Such a quote is dropped as malformed, counted
and logged by the poller, so the mismatch shows instead of being rounded away.

``parse_message`` never raises: anything it cannot use comes back as ``Dropped`` with a
reason, and subscription replies come back as ``SubscriptionReply``, never as quotes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import NamedTuple

import orjson

from tradepro.domain.fixed import InvalidNumberError, parse_scaled
from tradepro.domain.instruments import Instrument

BOOK_TICKER = "bookTicker"
"""The event type, and the stream name prefix (``bookTicker.<SYMBOL>``)."""

MAX_MESSAGE_BYTES = 64 * 1024
"""Longer messages are dropped unread (a book ticker is ~250 bytes)."""


def stream_name(symbol: str) -> str:
    """The book ticker stream of one market: ``bookTicker.BTC_USDC``."""
    return f"{BOOK_TICKER}.{symbol}"


def subscribe_message(symbols: Iterable[str], request_id: int) -> str:
    """The text frame that subscribes every symbol's book ticker in one request."""
    params = [stream_name(symbol) for symbol in symbols]
    return orjson.dumps({"method": "SUBSCRIBE", "params": params, "id": request_id}).decode()


class BookTicker(NamedTuple):
    """Best bid and ask of one market, in integer ticks of the instrument (``bid <= ask``)."""

    asset: str
    bid: int
    ask: int
    event_us: int | None
    """Backpack's event time (``E``) in microseconds, when it sent one."""


class DropReason(StrEnum):
    """Why a message was not used: the label of the poller's dropped-messages counter."""

    MALFORMED = "malformed"
    """Not JSON, not the book ticker shape, or a price that is not exact at our scale."""
    CROSSED = "crossed"
    """bid > ask: not a tradable quote."""
    UNKNOWN_SYMBOL = "unknown_symbol"
    """A market that is not in our instrument table."""


class Dropped(NamedTuple):
    reason: DropReason
    detail: str
    """What was wrong, for the log line (never the whole message)."""


class SubscriptionReply(NamedTuple):
    """Backpack's answer to a (un)subscribe request: ``error`` is None for a plain ack."""

    request_id: object
    error: str | None


Parsed = BookTicker | Dropped | SubscriptionReply


def parse_message(raw: str | bytes, instruments: Mapping[str, Instrument]) -> Parsed:
    """Classify one text frame from Backpack; never raises."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return Dropped(DropReason.MALFORMED, f"message of {len(raw)} bytes is too long")
    try:
        message = orjson.loads(raw)
    except (orjson.JSONDecodeError, UnicodeError, RecursionError):
        return Dropped(DropReason.MALFORMED, f"not JSON: {_excerpt(raw)}")
    if not isinstance(message, dict):
        return Dropped(DropReason.MALFORMED, f"not a JSON object: {_excerpt(raw)}")
    if "data" not in message and ("error" in message or "result" in message):
        return _subscription_reply(message)
    return _book_ticker(message, instruments)


def _subscription_reply(message: dict[str, object]) -> SubscriptionReply:
    error = message.get("error")
    if error is None:
        return SubscriptionReply(message.get("id"), None)
    if isinstance(error, dict):
        code, text = error.get("code"), error.get("message")
        return SubscriptionReply(message.get("id"), f"{code} {text}")
    return SubscriptionReply(message.get("id"), str(error)[:200])


def _book_ticker(message: dict[str, object], instruments: Mapping[str, Instrument]) -> Parsed:
    stream, data = message.get("stream"), message.get("data")
    if not isinstance(stream, str) or not isinstance(data, dict):
        return Dropped(DropReason.MALFORMED, "expected {stream, data}")
    if data.get("e") != BOOK_TICKER:
        return Dropped(DropReason.MALFORMED, f"event type {_excerpt(data.get('e'))} on {stream}")
    symbol = data.get("s")
    if not isinstance(symbol, str) or stream != stream_name(symbol):
        return Dropped(DropReason.MALFORMED, f"symbol {_excerpt(symbol)} on stream {stream}")
    instrument = instruments.get(symbol)
    if instrument is None:
        return Dropped(DropReason.UNKNOWN_SYMBOL, f"unknown market {symbol}")
    try:
        bid = _price(data.get("b"), instrument, "bid")
        ask = _price(data.get("a"), instrument, "ask")
    except InvalidNumberError as error:
        return Dropped(DropReason.MALFORMED, f"{symbol} {error}")
    if bid > ask:
        return Dropped(DropReason.CROSSED, f"{symbol} bid {data['b']} > ask {data['a']}")
    return BookTicker(symbol, bid, ask, _microseconds(data.get("E")))


def _price(value: object, instrument: Instrument, field: str) -> int:
    if not isinstance(value, str):  # a JSON number would be a float: never for prices
        raise InvalidNumberError(field, "must be a decimal string")
    return parse_scaled(value, instrument.price_decimals, field)


def _microseconds(value: object) -> int | None:
    """A timestamp sent as a JSON integer or as a string of digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and 0 < len(value) <= 20 and value.isascii() and value.isdigit():
        return int(value)
    return None


def _excerpt(value: object) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


__all__ = [
    "BOOK_TICKER",
    "BookTicker",
    "DropReason",
    "Dropped",
    "Parsed",
    "SubscriptionReply",
    "parse_message",
    "stream_name",
    "subscribe_message",
]
