"""An entry straight into an engine: decode with the protocol, then ``Engine.apply``.

The engine knows only typed commands; this is how the engine service (and the demo, the
benchmarks and tests) feed it bus entries.
"""

from __future__ import annotations

from collections.abc import Mapping

from tradepro.domain.events import CommandRejected, Event
from tradepro.engine import Engine
from tradepro.engine.pending import expire
from tradepro.protocol.decode import decode_entry


def apply_entry(
    engine: Engine, kind: str, request_id: str, ts_us: int, payload: Mapping[str, object]
) -> list[Event]:
    """Decode one bus entry and apply it; a malformed entry yields a rejection (after the
    pending orders it expires: every input is a moment of the engine's clock)."""
    decoded = decode_entry(kind, request_id, ts_us, payload, engine.config.instruments)
    if type(decoded) is CommandRejected:
        if ts_us >= engine.expiries.due_us:
            return engine.emit([*expire(engine, ts_us), decoded])
        return engine.emit([decoded])
    return engine.apply(decoded)  # type: ignore[arg-type]
