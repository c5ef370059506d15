"""``Bus.last_entry_id``: where a reader that wants only new entries starts, on both buses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tradepro.bus.base import START_ID, Bus, BusUnavailableError
from tradepro.bus.redis_bus import RedisBus
from tradepro.bus.sqlite_bus import SqliteBus


@pytest.fixture(params=["redis", "sqlite"])
async def any_bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    bus: Bus
    if request.param == "redis":
        bus = RedisBus(
            request.getfixturevalue("redis_url"),
            namespace=request.getfixturevalue("bus_namespace"),
        )
    else:
        bus = SqliteBus(tmp_path / "bus.db")
    yield bus
    await bus.close()


@pytest.mark.integration
async def test_an_empty_stream_starts_at_the_beginning(any_bus: Bus) -> None:
    assert await any_bus.last_entry_id() == START_ID


@pytest.mark.integration
async def test_it_is_the_newest_entry_so_reading_after_it_gets_only_new_ones(
    any_bus: Bus,
) -> None:
    old = [await any_bus.publish("price-update", {"n": n}, f"old-{n}") for n in range(3)]
    await any_bus.publish_callbacks([b'{"id":"x"}'])  # callbacks are another stream

    tail = await any_bus.last_entry_id()
    new = await any_bus.publish("price-update", {"n": 3}, "new")

    assert tail == old[-1].entry_id
    assert await any_bus.read_entries(tail, 10, 0) == [new]
    assert await any_bus.last_entry_id() == new.entry_id


@pytest.mark.integration
async def test_after_trimming_it_is_still_the_newest_entry(any_bus: Bus) -> None:
    entries = [await any_bus.publish("price-update", {"n": n}, f"r-{n}") for n in range(250)]

    await any_bus.trim_entries(entries[-1].entry_id)

    assert await any_bus.last_entry_id() == entries[-1].entry_id


@pytest.mark.integration
async def test_an_unreachable_redis_raises_bus_unavailable() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", socket_timeout_s=1.0)
    try:
        with pytest.raises(BusUnavailableError):
            await bus.last_entry_id()
    finally:
        await bus.close()
