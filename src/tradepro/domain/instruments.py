"""Tradable instruments and their fixed-point scales."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple


class Instrument(NamedTuple):
    """A tradable pair: prices are integers of ``10**-price_decimals`` USD (one tick),
    quantities integers of ``10**-qty_decimals`` units of the base asset."""

    symbol: str
    price_decimals: int
    qty_decimals: int
    max_leverage: int = 100
    commission_bps: int = 0
    """Commission on the notional at open and at close, in basis points (rounded up to
    the cent)."""


DEFAULT_INSTRUMENTS: Mapping[str, Instrument] = {
    instrument.symbol: instrument
    for instrument in (
        Instrument("BTC_USDC", price_decimals=1, qty_decimals=5),
        Instrument("ETH_USDC", price_decimals=2, qty_decimals=4),
        Instrument("SOL_USDC", price_decimals=2, qty_decimals=2),
    )
}


def instrument_table(instruments: Iterable[Instrument]) -> dict[str, Instrument]:
    """Index instruments by symbol, checking that each is well formed."""
    table: dict[str, Instrument] = {}
    for instrument in instruments:
        if instrument.symbol in table:
            raise ValueError(f"instrument {instrument.symbol} is listed twice")
        if not (0 <= instrument.price_decimals <= 12 and 0 <= instrument.qty_decimals <= 12):
            raise ValueError(f"instrument {instrument.symbol}: decimals must be within 0..12")
        if not 1 <= instrument.max_leverage <= 1000:
            raise ValueError(f"instrument {instrument.symbol}: max leverage must be 1..1000")
        if not 0 <= instrument.commission_bps <= 1000:
            raise ValueError(f"instrument {instrument.symbol}: commission must be 0..1000 bps")
        table[instrument.symbol] = instrument
    return table
