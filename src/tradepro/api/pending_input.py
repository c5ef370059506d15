"""Checking a request's pending-order fields (``type``, ``limitPrice``, ``stopPrice``,
``expiresAt``) and rendering them for the engine's payload.

Every refusal is a 422 ``validation_error`` naming the field: the price field that does not
belong to the order's type or is missing, a price finer than the instrument allows or
absurdly large, an expiry without a time zone, already past or more than 366 days ahead.
Whether the price lies on the waiting side of the market is the
engine's to judge (``invalid_order``): only it knows the quote the order meets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tradepro.api.errors import ApiError
from tradepro.domain.fixed import InvalidNumberError, format_scaled, parse_scaled
from tradepro.domain.instruments import Instrument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PRICE_FIELD = {"limit": "limitPrice", "stop": "stopPrice"}
MAX_EXPIRY = timedelta(days=366)
"""The furthest an expiry may lie ahead (omit it for an order good till cancelled)."""


def pending_fields(order: Any, instrument: Instrument) -> dict[str, Any]:
    """The engine payload's ``type``, price field and ``expiresUs`` of a create-order."""
    order_type: str = order.type
    wanted = _PRICE_FIELD.get(order_type)
    for name in ("limitPrice", "stopPrice"):
        if getattr(order, name) is not None and name != wanted:
            raise _invalid(f"{name}: not allowed on a {order_type} order")
    if wanted is None:
        if order.expiresAt is not None:
            raise _invalid("expiresAt: only limit and stop orders expire")
        return {}
    value = getattr(order, wanted)
    if value is None:
        raise _invalid(f"{wanted}: required for a {order_type} order")
    fields: dict[str, Any] = {"type": order_type, wanted: price_text(value, instrument, wanted)}
    if order.expiresAt is not None:
        fields["expiresUs"] = expires_us(order.expiresAt)
    return fields


def price_text(value: object, instrument: Instrument, name: str) -> str:
    decimals = instrument.price_decimals
    try:
        return format_scaled(parse_scaled(value, decimals, name), decimals)
    except InvalidNumberError as error:
        raise ApiError(422, "validation_error", str(error)) from None


def qty_text(value: object, instrument: Instrument) -> str:
    decimals = instrument.qty_decimals
    try:
        return format_scaled(parse_scaled(value, decimals, "qty"), decimals)
    except InvalidNumberError as error:
        raise ApiError(422, "validation_error", str(error)) from None


def expires_us(moment: datetime) -> int:
    """An expiry as microseconds since the epoch: it must name its zone and lie ahead."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _invalid("expiresAt: give a time zone (for example 2026-12-31T23:59:00Z)")
    now = datetime.now(UTC)
    if moment <= now:
        raise _invalid("expiresAt: must be in the future")
    if moment > now + MAX_EXPIRY:
        raise _invalid("expiresAt: at most 366 days ahead (omit it: good till cancelled)")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _invalid(message: str) -> ApiError:
    return ApiError(422, "validation_error", message)
