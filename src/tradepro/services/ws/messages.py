"""The messages of the WebSocket protocol (docs/websocket.md), without any socket.

Client messages are parsed into ``Authenticate``, ``Subscribe`` or ``Unsubscribe``, or
refused with a ``ProtocolError`` that becomes an ``error`` message (the socket stays open).
Server messages are rendered to JSON bytes here, once each: a price update is the same
bytes for every subscriber.

Prices stay integers until they are rendered: ``mid`` is ``(bid + ask) / 2``, exact with
one more decimal place than the instrument's price, and ``spread`` is ``ask - bid``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tradepro.bus.base import Entry
from tradepro.domain.fixed import format_scaled
from tradepro.domain.instruments import Instrument
from tradepro.protocol.account_events import account_event_message, account_fields
from tradepro.protocol.kinds import ACCOUNT_EVENTS, Kind
from tradepro.protocol.prices import tradable_price
from tradepro.protocol.render import iso_time
from tradepro.protocol.replies import order_event

ORDERS_CHANNEL = "orders"
PRICES_PREFIX = "prices."
MAX_CHANNELS_PER_MESSAGE = 64
MAX_SEQ = 2**63 - 1
"""The largest ``since`` (the database's BIGINT)."""

_QUOTE_LENGTH = 40
"""How much of a client's bad input an error message repeats."""


class ProtocolError(Exception):
    """A client message the server cannot take; ``error`` is the stable machine word."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


@dataclass(frozen=True, slots=True)
class Authenticate:
    token: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    channels: frozenset[str]
    since: int | None = None
    """With ``orders``: replay the caller's events after this ``seq`` before live ones."""


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channels: frozenset[str]


ClientMessage = Authenticate | Subscribe | Unsubscribe


def parse_client_message(raw: str | bytes, assets: Collection[str]) -> ClientMessage:
    """Parse one frame from a client; raise ``ProtocolError`` saying what is wrong."""
    if not isinstance(raw, str):
        raise ProtocolError("invalid_message", "send JSON in text frames, not binary frames")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ProtocolError("invalid_json", f"the message is not valid JSON: {error}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("invalid_message", 'a message is a JSON object with a "type"')
    kind = message["type"]
    if kind == "auth":
        token = message.get("token")
        if not isinstance(token, str) or not token:
            raise ProtocolError("invalid_message", "auth: token must be a non-empty string")
        return Authenticate(token)
    if kind in ("subscribe", "unsubscribe"):
        channels = _channels(kind, message.get("channels"), assets)
        if kind == "unsubscribe":
            return Unsubscribe(channels)
        return Subscribe(channels, _since(message, channels))
    raise ProtocolError(
        "unknown_type",
        f"unknown message type {_quote(kind)}; expected auth, subscribe or unsubscribe",
    )


def _since(message: Mapping[str, Any], channels: frozenset[str]) -> int | None:
    """The ``since`` of a subscribe message: absent, or a ``seq`` (an integer from 0) with
    the ``orders`` channel."""
    if "since" not in message or message["since"] is None:
        return None
    since = message["since"]
    if type(since) is not int or not 0 <= since <= MAX_SEQ:
        raise ProtocolError(
            "invalid_message",
            f"subscribe: since must be an integer from 0 to {MAX_SEQ} (the seq of the last "
            "order event you have; 0 for all that are kept)",
        )
    if ORDERS_CHANNEL not in channels:
        raise ProtocolError("invalid_message", "subscribe: since goes with the orders channel")
    return since


def _channels(kind: str, value: object, assets: Collection[str]) -> frozenset[str]:
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_CHANNELS_PER_MESSAGE
        or not all(isinstance(channel, str) for channel in value)
    ):
        raise ProtocolError(
            "invalid_message",
            f"{kind}: channels must be a list of 1 to {MAX_CHANNELS_PER_MESSAGE} channel names",
        )
    for channel in value:
        check_channel(channel, assets)
    return frozenset(value)


def check_channel(channel: str, assets: Collection[str]) -> None:
    """Accept ``orders`` and ``prices.<ASSET>`` for a configured asset; refuse the rest."""
    if channel == ORDERS_CHANNEL:
        return
    if channel.startswith(PRICES_PREFIX):
        asset = channel.removeprefix(PRICES_PREFIX)
        if asset in assets:
            return
        raise ProtocolError(
            "unknown_asset",
            f"{_quote(channel)}: unknown asset {_quote(asset)}; known: {', '.join(assets)}",
        )
    raise ProtocolError(
        "unknown_channel",
        f"unknown channel {_quote(channel)}; expected 'orders' or 'prices.<ASSET>'",
    )


def price_channel(asset: str) -> str:
    return PRICES_PREFIX + asset


def price_message(entry: Entry, instruments: Mapping[str, Instrument]) -> tuple[str, bytes] | None:
    """``(asset, message)`` for a well-formed ``price-update`` entry, else ``None``.

    The payload is read as the engine reads it and must pass the engine's own check
    (``0 < bid <= ask``), so clients see exactly the quotes the engine trades on.
    """
    if entry.kind != Kind.PRICE_UPDATE or not isinstance(entry.payload, dict):
        return None
    payload = entry.payload
    quote = tradable_price(payload, instruments)
    if quote is None:
        return None
    decimals = instruments[quote.asset].price_decimals
    bid, ask = quote.bid, quote.ask
    message = {
        "type": "price",
        "asset": quote.asset,
        "bid": format_scaled(bid, decimals),
        "ask": format_scaled(ask, decimals),
        "mid": format_scaled((bid + ask) * 5, decimals + 1),  # (bid + ask) / 2, one place more
        "spread": format_scaled(ask - bid, decimals),
        "ts": iso_time(entry.ts_us),
        "simulated": payload.get("simulated") is True,
    }
    return quote.asset, orjson.dumps(message)


def order_message(body: Mapping[str, Any]) -> tuple[str, bytes, int | None] | None:
    """``(owner's user id, message, seq)`` for an order event's callback (``created``,
    ``closed``, ``placed``, ``filled``, ``canceled``, ``expired``, ``amended``,
    ``modified``), an account event's (``reset``, ``deposit``) and any other numbered
    account event, else ``None``.

    ``order`` is passed on as the engine rendered it: the REST shapes (docs/architecture.md
    "HTTP API"). A numbered event (``seq``) is the message ``account_events`` keeps.
    """
    numbered = account_event_message(body)
    if numbered is not None:
        return numbered.user_id, orjson.dumps(numbered.message), numbered.seq
    event = order_event(body)
    if event is None:
        return _unnumbered_account_event(body)
    message = {"type": "order", "event": event.status, "order": event.order}
    if event.position is not None:  # filled: the position it opened
        message["position"] = event.position
    if event.remaining is not None:  # a partial close: the position left open
        message["remaining"] = event.remaining
    return event.user_id, orjson.dumps(message), None


def _unnumbered_account_event(body: Mapping[str, Any]) -> tuple[str, bytes, None] | None:
    """``(owner's user id, message, None)`` for a ``reset`` or ``deposit`` callback without
    a ``seq`` (an engine from before account events were numbered), else ``None``."""
    status, user_id = body.get("status"), body.get("userId")
    if status not in ACCOUNT_EVENTS or not isinstance(user_id, str):
        return None
    return user_id, orjson.dumps(account_fields(body)), None


def error_message(error: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": error, "message": message})


def subscriptions_message(channels: Iterable[str]) -> bytes:
    """The reply to ``subscribe`` and ``unsubscribe``: every channel the client now has."""
    return orjson.dumps({"type": "subscriptions", "channels": sorted(channels)})


def authenticated_message(user_id: str) -> bytes:
    return orjson.dumps({"type": "authenticated", "userId": user_id})


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE_LENGTH else text[:_QUOTE_LENGTH] + "...")
