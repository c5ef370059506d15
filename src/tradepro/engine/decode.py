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
    RegisterUser,
    ReportAccount,
    UpdatePrice,
)
from tradepro.domain.events import CommandRejected
from tradepro.domain.fixed import InvalidNumberError, parse_scaled
from tradepro.domain.instruments import Instrument
from tradepro.domain.orders import RejectReason, Side

REGISTER_USER = "register-user"
PRICE_UPDATE = "price-update"
CREATE_ORDER = "create-order"
CLOSE_ORDER = "close-order"
GET_ACCOUNT = "get-account"
END_SESSION = "end-session"
KINDS = (REGISTER_USER, PRICE_UPDATE, CREATE_ORDER, CLOSE_ORDER, GET_ACCOUNT, END_SESSION)

_SIDES = {side.value: side for side in Side}
_REJECT_REASONS = {
    REGISTER_USER: RejectReason.INVALID_REQUEST,
    PRICE_UPDATE: RejectReason.INVALID_PRICE,
    CREATE_ORDER: RejectReason.INVALID_ORDER,
    CLOSE_ORDER: RejectReason.INVALID_REQUEST,
    GET_ACCOUNT: RejectReason.INVALID_REQUEST,
    END_SESSION: RejectReason.INVALID_REQUEST,
}


class MalformedEntryError(ValueError):
    pass


def decode_entry(
    kind: str,
    request_id: str,
    ts_us: int,
    payload: Mapping[str, object],
    instruments: Mapping[str, Instrument],
) -> Command | CommandRejected:
    """Decode one entry; malformed input yields a ``CommandRejected`` naming the field."""
    user_id = payload.get("userId") if isinstance(payload, Mapping) else None
    owner = user_id if isinstance(user_id, str) else None
    try:
        if kind == CREATE_ORDER:
            return _create_order(request_id, ts_us, payload, instruments)
        if kind == CLOSE_ORDER:
            order_id = _uuid(payload, "orderId")
            return CloseOrder(request_id, ts_us, _uuid(payload, "userId"), order_id)
        if kind == PRICE_UPDATE:
            return _price_update(request_id, ts_us, payload, instruments)
        if kind == GET_ACCOUNT:
            orders = payload.get("orders", True)
            if not isinstance(orders, bool):
                raise MalformedEntryError("orders must be true or false")
            return ReportAccount(request_id, ts_us, _uuid(payload, "userId"), orders)
        account_kind = _ACCOUNT_KINDS.get(kind)
        if account_kind is not None:
            return account_kind(request_id, ts_us, payload)
    except InvalidNumberError as error:
        reason = RejectReason.INVALID_PRICE if kind == PRICE_UPDATE else RejectReason.INVALID_ORDER
        return CommandRejected(request_id, owner, reason, str(error))
    except MalformedEntryError as error:
        reason = (
            RejectReason.INVALID_ORDER if kind == CREATE_ORDER else RejectReason.INVALID_REQUEST
        )
        if kind == PRICE_UPDATE:
            reason = RejectReason.INVALID_PRICE
        return CommandRejected(request_id, owner, reason, str(error))
    return CommandRejected(request_id, owner, RejectReason.UNKNOWN_KIND, f"unknown kind {kind!r}")


def _create_order(
    request_id: str,
    ts_us: int,
    payload: Mapping[str, object],
    instruments: Mapping[str, Instrument],
) -> CreateOrder:
    user_id = _uuid(payload, "userId")
    if not _is_uuid(request_id):
        raise MalformedEntryError("id: an order's correlation id must be a UUID")
    instrument = _instrument(payload, instruments)
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
        _optional(payload, "takeProfit", price_decimals),
        _optional(payload, "stopLoss", price_decimals),
        _optional(payload, "price", price_decimals),
        _optional(payload, "slippage", 0, allow_zero=True),
    )


def _price_update(
    request_id: str,
    ts_us: int,
    payload: Mapping[str, object],
    instruments: Mapping[str, Instrument],
) -> UpdatePrice:
    instrument = _instrument(payload, instruments)
    decimals = instrument.price_decimals
    bid = parse_scaled(payload.get("bid"), decimals, "bid")
    ask = parse_scaled(payload.get("ask"), decimals, "ask")
    return UpdatePrice(request_id, ts_us, instrument.symbol, bid, ask)


def _register_user(request_id: str, ts_us: int, payload: Mapping[str, object]) -> RegisterUser:
    return RegisterUser(request_id, ts_us, _uuid(payload, "userId"))


def _end_session(request_id: str, ts_us: int, payload: Mapping[str, object]) -> EndSession:
    token_id = payload.get("tokenId")
    if not isinstance(token_id, str) or _TOKEN_ID.fullmatch(token_id) is None:
        raise MalformedEntryError("tokenId: must be 1..64 letters, digits, '-' or '_'")
    expires_at_s = payload.get("expiresAt")
    if not isinstance(expires_at_s, int) or isinstance(expires_at_s, bool) or expires_at_s < 0:
        raise MalformedEntryError("expiresAt: must be epoch seconds (a non-negative integer)")
    return EndSession(request_id, ts_us, _uuid(payload, "userId"), token_id, expires_at_s)


_ACCOUNT_KINDS: dict[str, Callable[[str, int, Mapping[str, object]], Command]] = {
    REGISTER_USER: _register_user,
    END_SESSION: _end_session,
}


def _instrument(payload: Mapping[str, object], instruments: Mapping[str, Instrument]) -> Instrument:
    asset = payload.get("asset")
    instrument = instruments.get(asset) if isinstance(asset, str) else None
    if instrument is None:
        raise MalformedEntryError(f"asset: unknown asset {asset!r}")
    return instrument


def _optional(
    payload: Mapping[str, object], name: str, decimals: int, *, allow_zero: bool = False
) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    return parse_scaled(value, decimals, name, allow_zero=allow_zero)


def _uuid(payload: Mapping[str, object], name: str) -> str:
    """Ids are canonical lowercase UUID strings: the database stores them as UUIDs."""
    value = payload.get(name) if isinstance(payload, Mapping) else None
    if not isinstance(value, str) or not _is_uuid(value):
        raise MalformedEntryError(f"{name}: must be a UUID")
    return value


_TOKEN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _is_uuid(text: str) -> bool:
    """Canonical lowercase form only (a regex: 5x cheaper than parsing with ``uuid``)."""
    return _CANONICAL_UUID.fullmatch(text) is not None
