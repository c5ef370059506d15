"""TradePro: a leveraged CFD paper-trading platform."""

__version__ = "0.1.0"
