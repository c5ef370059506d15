"""The phases of ``bench/bus_roundtrip.py`` (the engine service through Redis and
PostgreSQL): ``options``, the engine process (``engine``), what the phases share
(``stack``), then one module per phase: ``roundtrip``, ``fill``, ``ticks``, ``restart``."""
