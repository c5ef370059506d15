"""The deterministic trading engine: ``apply(command) -> events``, snapshot and restore."""

from tradepro.engine.core import Engine, EngineConfig

__all__ = ["Engine", "EngineConfig"]
