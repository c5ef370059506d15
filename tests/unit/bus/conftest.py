"""A fresh embedded bus per test, and the shared bus contracts on ``sys.path``.

``tests`` is not a package, so the contract modules in ``tests/contracts`` are made
importable by plain name (as ``tests/unit/engine`` does for its helpers).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tradepro.bus.sqlite_bus import SqliteBus

_CONTRACTS = str(Path(__file__).resolve().parents[2] / "contracts")
if _CONTRACTS not in sys.path:
    sys.path.insert(0, _CONTRACTS)


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[SqliteBus]:
    bus = SqliteBus(tmp_path / "bus.db")
    yield bus
    await bus.close()
