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
    AMENDABLE,
    MODIFIABLE,
    AmendOrder,
    CancelOrder,
    CloseAll,
    CloseOrder,
    Command,
    CreateOrder,
    Deposit,
    EndSession,
    FeedNote,
    ModifyOrder,
    RegisterUser,
    ReportAccount,
    ResetAccount,
    UpdatePrice,
)
from tradepro.domain.events import CommandRejected
from tradepro.domain.fixed import USD_DECIMALS, InvalidNumberError, parse_scaled
from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import OrderType, RejectReason, Side
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
_TYPES = {order_type.value: order_type for order_type in OrderType}
_PRICE_FIELDS = {OrderType.LIMIT: "limitPrice", OrderType.STOP: "stopPrice"}
MAX_EXPIRES_US = 253_402_300_799_999_999
"""The last microsecond of the year 9999: a later ``expiresUs`` cannot be a date."""


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
    if kind in _ORDER_KINDS or isinstance(error, InvalidNumberError):
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
    order_type, trigger_price = _order_type(payload, price_decimals)
    trailing_stop = optional_scaled(payload, "trailingStop", price_decimals)
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
        order_type,
        trigger_price,
        _expires_us(payload),
        trailing_stop,
    )


def _order_type(payload: Mapping[str, object], price_decimals: int) -> tuple[OrderType, int | None]:
    """The order's type and its limit or stop price: exactly the price field of its type."""
    raw = payload.get("type", "market")
    order_type = _TYPES.get(raw) if isinstance(raw, str) else None
    if order_type is None:
        raise MalformedEntryError("type: must be 'market', 'limit' or 'stop'")
    wanted = _PRICE_FIELDS.get(order_type)
    for name in ("limitPrice", "stopPrice"):
        if payload.get(name) is not None and wanted != name:
            raise MalformedEntryError(f"{name}: not allowed on a {order_type.value} order")
    if wanted is None:
        if payload.get("expiresUs") is not None:
            raise MalformedEntryError("expiresAt: only limit and stop orders expire")
        return order_type, None
    price = optional_scaled(payload, wanted, price_decimals)
    if price is None:
        raise MalformedEntryError(f"{wanted}: required for a {order_type.value} order")
    return order_type, price


def _expires_us(payload: Mapping[str, object]) -> int | None:
    value = payload.get("expiresUs")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_EXPIRES_US:
        raise MalformedEntryError("expiresAt: must be a time (microseconds since the epoch)")
    return value


def _cancel_order(
    request_id: str, ts_us: int, payload: Mapping[str, object], _: Mapping[str, Instrument]
) -> CancelOrder:
    order_id = uuid_field(payload, "orderId")
    return CancelOrder(request_id, ts_us, uuid_field(payload, "userId"), order_id)


_AMEND_FIELDS = {
    "limitPrice": "price", "stopPrice": "price", "qty": "qty", "takeProfit": "take_profit",
    "stopLoss": "stop_loss", "expiresUs": "expires_us", "trailingStop": "trailing_stop",
}  # fmt: skip


def _amend_order(
    request_id: str,
    ts_us: int,
    payload: Mapping[str, object],
    instruments: Mapping[str, Instrument],
) -> AmendOrder:
    """The fields present change (a null clears take-profit, stop-loss or expiry). The
    order's asset scales the numbers: the API names it (the engine checks it is the
    order's own, or the order is not found)."""
    user_id, order_id = uuid_field(payload, "userId"), uuid_field(payload, "orderId")
    instrument = instrument_of(payload, instruments)
    if "limitPrice" in payload and "stopPrice" in payload:
        raise MalformedEntryError("limitPrice, stopPrice: an order has one price")
    given = frozenset(_AMEND_FIELDS[name] for name in _AMEND_FIELDS if name in payload)
    if not given:
        raise MalformedEntryError("nothing to amend: give a price, qty, levels or expiresAt")
    for name in ("limitPrice", "stopPrice", "qty"):
        if name in payload and payload[name] is None:
            raise MalformedEntryError(f"{name}: cannot be cleared")
    price_field = "limitPrice" if "limitPrice" in payload else "stopPrice"
    decimals = instrument.price_decimals
    values: dict[str, int | None] = {
        "price": optional_scaled(payload, price_field, decimals),
        "qty": optional_scaled(payload, "qty", instrument.qty_decimals),
        "take_profit": optional_scaled(payload, "takeProfit", decimals),
        "stop_loss": optional_scaled(payload, "stopLoss", decimals),
        "expires_us": _expires_us(payload),
        "trailing_stop": optional_scaled(payload, "trailingStop", decimals),
    }
    assert values.keys() == AMENDABLE
    return AmendOrder(
        request_id, ts_us, user_id, order_id, given, asset=instrument.symbol, **values
    )


def _close_order(
    request_id: str,
    ts_us: int,
    payload: Mapping[str, object],
    instruments: Mapping[str, Instrument],
) -> CloseOrder:
    """With ``qty`` (a partial close) the entry names the ``asset`` it was scaled with (the
    engine checks it is the position's) and its id must be a UUID: the closed trade's id."""
    order_id = uuid_field(payload, "orderId")
    user_id = uuid_field(payload, "userId")
    if payload.get("qty") is None:
        return CloseOrder(request_id, ts_us, user_id, order_id)
    if not is_uuid(request_id):
        raise MalformedEntryError("id: a partial close's correlation id must be a UUID")
    instrument = instrument_of(payload, instruments)
    qty = parse_scaled(payload.get("qty"), instrument.qty_decimals, "qty")
    return CloseOrder(request_id, ts_us, user_id, order_id, qty, instrument.symbol)


_MODIFY_FIELDS = {
    "takeProfit": "take_profit", "stopLoss": "stop_loss", "trailingStop": "trailing_stop",
}  # fmt: skip


def _modify_order(
    request_id: str,
    ts_us: int,
    payload: Mapping[str, object],
    instruments: Mapping[str, Instrument],
) -> ModifyOrder:
    """The fields present change (a null clears one); scaled with the named asset, which
    the engine checks is the position's."""
    user_id, order_id = uuid_field(payload, "userId"), uuid_field(payload, "orderId")
    instrument = instrument_of(payload, instruments)
    given = frozenset(_MODIFY_FIELDS[name] for name in _MODIFY_FIELDS if name in payload)
    if not given:
        raise MalformedEntryError("nothing to modify: give takeProfit, stopLoss or trailingStop")
    decimals = instrument.price_decimals
    values = {
        attribute: optional_scaled(payload, name, decimals)
        for name, attribute in _MODIFY_FIELDS.items()
    }
    assert values.keys() == MODIFIABLE
    return ModifyOrder(
        request_id, ts_us, user_id, order_id, given, asset=instrument.symbol, **values
    )


def _close_all(
    request_id: str,
    ts_us: int,
    payload: Mapping[str, object],
    instruments: Mapping[str, Instrument],
) -> CloseAll:
    asset = instrument_of(payload, instruments).symbol if payload.get("asset") is not None else None
    return CloseAll(request_id, ts_us, uuid_field(payload, "userId"), asset)


def _reset_account(
    request_id: str, ts_us: int, payload: Mapping[str, object], _: Mapping[str, Instrument]
) -> ResetAccount:
    """``balance``: dollars (a decimal string, 0 allowed); absent: the starting balance."""
    user_id = _request_owner(request_id, payload)
    balance = optional_scaled(payload, "balance", USD_DECIMALS, allow_zero=True)
    return ResetAccount(request_id, ts_us, user_id, balance)


def _deposit(
    request_id: str, ts_us: int, payload: Mapping[str, object], _: Mapping[str, Instrument]
) -> Deposit:
    """``amount``: dollars (a positive decimal string)."""
    user_id = _request_owner(request_id, payload)
    amount = parse_scaled(payload.get("amount"), USD_DECIMALS, "amount")
    return Deposit(request_id, ts_us, user_id, amount)


def _request_owner(request_id: str, payload: Mapping[str, object]) -> str:
    """The owner of a command whose correlation id is used once (the engine compares it as
    a canonical string, like an order id)."""
    user_id = uuid_field(payload, "userId")
    if not is_uuid(request_id):
        raise MalformedEntryError("id: the correlation id must be a UUID")
    return user_id


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
    pending = payload.get("pending", False)
    if not isinstance(pending, bool):
        raise MalformedEntryError("pending must be true or false")
    return ReportAccount(request_id, ts_us, user_id, orders, limit, after, order_id, pending)


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
_ORDER_KINDS = frozenset({Kind.CREATE_ORDER, Kind.AMEND_ORDER, Kind.MODIFY_ORDER, Kind.CLOSE_ALL})

_DECODERS: dict[str, Decoder] = {
    Kind.PRICE_UPDATE.value: _price_update,
    Kind.REGISTER_USER.value: _register_user,
    Kind.CREATE_ORDER.value: _create_order,
    Kind.CLOSE_ORDER.value: _close_order,
    Kind.CANCEL_ORDER.value: _cancel_order,
    Kind.AMEND_ORDER.value: _amend_order,
    Kind.MODIFY_ORDER.value: _modify_order,
    Kind.CLOSE_ALL.value: _close_all,
    Kind.RESET_ACCOUNT.value: _reset_account,
    Kind.DEPOSIT.value: _deposit,
    Kind.GET_ACCOUNT.value: _get_account,
    Kind.END_SESSION.value: _end_session,
    Kind.FEED_STATUS.value: _feed_status,
}
"""One decoder per kind (keyed by the plain strings: the bus hands over plain strings)."""
