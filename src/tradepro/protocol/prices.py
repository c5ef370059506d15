"""The ``price-update`` payload ``{asset, bid, ask, simulated?}``: read on its own, so the
WebSocket server shows exactly the quotes the engine trades on without the whole decoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from tradepro.domain.fixed import InvalidNumberError, parse_scaled
from tradepro.domain.instruments import Instrument
from tradepro.protocol.fields import MalformedEntryError, instrument_of


class PriceQuote(NamedTuple):
    """A quote at the instrument's scale (integer ticks)."""

    asset: str
    bid: int
    ask: int


def read_price(payload: Mapping[str, object], instruments: Mapping[str, Instrument]) -> PriceQuote:
    """The quote of a ``price-update`` payload; raises ``MalformedEntryError`` or
    ``InvalidNumberError`` naming the field. (``0 < bid <= ask`` is the engine's rule.)"""
    instrument = instrument_of(payload, instruments)
    decimals = instrument.price_decimals
    bid = parse_scaled(payload.get("bid"), decimals, "bid")
    ask = parse_scaled(payload.get("ask"), decimals, "ask")
    return PriceQuote(instrument.symbol, bid, ask)


def tradable_price(payload: object, instruments: Mapping[str, Instrument]) -> PriceQuote | None:
    """The quote if the engine would trade on it (well-formed, ``0 < bid <= ask``), else
    None (never raises)."""
    if not isinstance(payload, Mapping):
        return None
    try:
        quote = read_price(payload, instruments)
    except (MalformedEntryError, InvalidNumberError):
        return None
    return quote if 0 < quote.bid <= quote.ask else None
