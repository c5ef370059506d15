"""Turn a bus entry (kind, correlation id, timestamp, JSON payload) into a typed command.

Payload fields are camelCase like the HTTP API; numbers arrive as decimal strings (or JSON
integers) and are scaled with the engine's own instrument table, so the engine stays the
single judge of what an instrument allows. Anything malformed becomes a rejection event,
never an exception: one bad entry must not stop the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from tradepro.domain.commands import (
    CloseOrder,
    Command,
    CreateOrder,
    EndSession,
    FeedNote,
    RegisterUser,
    ReportAccount,
    UpdatePrice,
)
from tradepro.domain.events import CommandRejected
from tradepro.domain.fixed import InvalidNumberError, parse_scaled
from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import RejectReason, Side
from tradepro.engine.reads import PAGE_DEFAULT, PAGE_MAX
from tradepro.protocol.fields import (
    MalformedEntryError,
    instrument_of,
    is_uuid,
    optional_scaled,
    uuid_field,
)
from tradepro.protocol.kinds import Kind
from tradepro.protocol.prices import read_price

Decoder = Callable[[str, int, Mapping[str, object], Mapping[str, Instrument]], Command]
"""Builds one kind's command from (correlation id, timestamp, payload, instruments)."""

_SIDES = {side.value: side for side in Side}


def decode_entry(
    kind: str,
    request_id: str,
    ts_us: int,
    payload: Mapping[str, object],
    instruments: Mapping[str, Instrument],
) -> Command | CommandRejected:
    """Decode one entry; malformed input yields a ``CommandRejected`` naming the field."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        owner = _owner(payload)
        message = f"unknown kind {kind!r}"
        return CommandRejected(request_id, owner, RejectReason.UNKNOWN_KIND, message)
    try:
        return decoder(request_id, ts_us, payload, instruments)
    except (InvalidNumberError, MalformedEntryError) as error:
        return CommandRejected(request_id, _owner(payload), _reason(kind, error), str(error))


def _owner(payload: Mapping[str, object]) -> str | None:
    user_id = payload.get("userId") if isinstance(payload, Mapping) else None
    return user_id if isinstance(user_id, str) else None


def _reason(kind: str, error: Exception) -> RejectReason:
    """A price that cannot be read is an invalid price; a number in anything else makes an
    invalid order, and so does any field of a create-order; the rest is a bad request."""
    if kind == Kind.PRICE_UPDATE:
        return RejectReason.INVALID_PRICE
    if kind == Kind.CREATE_ORDER or isinstance(error, InvalidNumberError):
        return RejectReason.INVALID_ORDER
    return RejectReason.INVALID_REQUEST


def _create_order(
    request_id: str,
    ts_us: int,
    payload: Mapping[str, object],
    instruments: Mapping[str, Instrument],
) -> CreateOrder:
    user_id = uuid_field(payload, "userId")
    if not is_uuid(request_id):
        raise MalformedEntryError("id: an order's correlation id must be a UUID")
    instrument = instrument_of(payload, instruments)
    raw_side = payload.get("side")
    side = _SIDES.get(raw_side) if isinstance(raw_side, str) else None
    if side is None:
        raise MalformedEntryError("side: must be 'buy' or 'sell'")
    price_decimals = instrument.price_decimals
    return CreateOrder(
        request_id,
        ts_us,
        user_id,
        instrument.symbol,
        side,
        parse_scaled(payload.get("qty"), instrument.qty_decimals, "qty"),
        parse_scaled(payload.get("leverage"), 0, "leverage"),
        optional_scaled(payload, "takeProfit", price_decimals),
        optional_scaled(payload, "stopLoss", price_decimals),
        optional_scaled(payload, "price", price_decimals),
        optional_scaled(payload, "slippage", 0, allow_zero=True),
    )


def _close_order(
    request_id: str, ts_us: int, payload: Mapping[str, object], _: Mapping[str, Instrument]
) -> CloseOrder:
    order_id = uuid_field(payload, "orderId")
    return CloseOrder(request_id, ts_us, uuid_field(payload, "userId"), order_id)


def _price_update(
    request_id: str,
    ts_us: int,
    payload: Mapping[str, object],
    instruments: Mapping[str, Instrument],
) -> UpdatePrice:
    asset, bid, ask = read_price(payload, instruments)
    return UpdatePrice(request_id, ts_us, asset, bid, ask)


def _get_account(
    request_id: str, ts_us: int, payload: Mapping[str, object], _: Mapping[str, Instrument]
) -> ReportAccount:
    orders = payload.get("orders", True) if isinstance(payload, Mapping) else True
    if not isinstance(orders, bool):
        raise MalformedEntryError("orders must be true or false")
    user_id = uuid_field(payload, "userId")
    limit = payload.get("limit", PAGE_DEFAULT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= PAGE_MAX:
        raise MalformedEntryError(f"limit: must be an integer from 1 to {PAGE_MAX}")
    after = uuid_field(payload, "after") if payload.get("after") is not None else None
    order_id = uuid_field(payload, "orderId") if payload.get("orderId") is not None else None
    return ReportAccount(request_id, ts_us, user_id, orders, limit, after, order_id)


def _register_user(
    request_id: str, ts_us: int, payload: Mapping[str, object], _: Mapping[str, Instrument]
) -> RegisterUser:
    return RegisterUser(request_id, ts_us, uuid_field(payload, "userId"))


def _end_session(
    request_id: str, ts_us: int, payload: Mapping[str, object], _: Mapping[str, Instrument]
) -> EndSession:
    token_id = payload.get("tokenId")
    if not isinstance(token_id, str) or _TOKEN_ID.fullmatch(token_id) is None:
        raise MalformedEntryError("tokenId: must be 1..64 letters, digits, '-' or '_'")
    expires_at_s = payload.get("expiresAt")
    if not isinstance(expires_at_s, int) or isinstance(expires_at_s, bool) or expires_at_s < 0:
        raise MalformedEntryError("expiresAt: must be epoch seconds (a non-negative integer)")
    return EndSession(request_id, ts_us, uuid_field(payload, "userId"), token_id, expires_at_s)


def _feed_status(
    request_id: str, ts_us: int, _payload: Mapping[str, object], _: Mapping[str, Instrument]
) -> FeedNote:
    """Not read: the engine ignores feed reports, so a bad one cannot cost it anything."""
    return FeedNote(request_id, ts_us)


_TOKEN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")

_DECODERS: dict[str, Decoder] = {
    Kind.PRICE_UPDATE.value: _price_update,
    Kind.REGISTER_USER.value: _register_user,
    Kind.CREATE_ORDER.value: _create_order,
    Kind.CLOSE_ORDER.value: _close_order,
    Kind.GET_ACCOUNT.value: _get_account,
    Kind.END_SESSION.value: _end_session,
    Kind.FEED_STATUS.value: _feed_status,
}
"""One decoder per kind (keyed by the plain strings: the bus hands over plain strings)."""
