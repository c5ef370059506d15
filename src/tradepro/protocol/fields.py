"""Reading the fields of an entry's payload: ids, instruments, scaled numbers.

Payload fields are camelCase like the HTTP API; numbers arrive as decimal strings (or JSON
integers) and are scaled with the engine's own instrument table. A field that cannot be
read raises ``MalformedEntryError`` (or ``InvalidNumberError``) naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tradepro.domain.fixed import parse_scaled
from tradepro.domain.instruments import Instrument


class MalformedEntryError(ValueError):
    """A payload field is missing or unusable; the message names the field."""


def instrument_of(
    payload: Mapping[str, object], instruments: Mapping[str, Instrument]
) -> Instrument:
    asset = payload.get("asset")
    instrument = instruments.get(asset) if isinstance(asset, str) else None
    if instrument is None:
        raise MalformedEntryError(f"asset: unknown asset {asset!r}")
    return instrument


def optional_scaled(
    payload: Mapping[str, object], name: str, decimals: int, *, allow_zero: bool = False
) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    return parse_scaled(value, decimals, name, allow_zero=allow_zero)


def uuid_field(payload: Mapping[str, object], name: str) -> str:
    """Ids are canonical lowercase UUID strings: the database stores them as UUIDs."""
    value = payload.get(name) if isinstance(payload, Mapping) else None
    if not isinstance(value, str) or not is_uuid(value):
        raise MalformedEntryError(f"{name}: must be a UUID")
    return value


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_uuid(text: str) -> bool:
    """Canonical lowercase form only (a regex: 5x cheaper than parsing with ``uuid``)."""
    return _CANONICAL_UUID.fullmatch(text) is not None
