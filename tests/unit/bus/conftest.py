"""A fresh embedded bus per test (the shared bus contracts are in ``tests.support.contracts``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tradepro.bus.sqlite_bus import SqliteBus


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[SqliteBus]:
    bus = SqliteBus(tmp_path / "bus.db")
    yield bus
    await bus.close()
