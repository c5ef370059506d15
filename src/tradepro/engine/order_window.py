"""Which order ids the engine has opened: "ever", in bounded memory.

Order ids are version 7 UUIDs (``tradepro.domain.order_ids``): each carries the time it
was made. The engine keeps the ids it opened whose time is at or after a *horizon*, and
refuses every id made before the horizon. The horizon is the latest create's entry time
minus the window (``EngineConfig.order_id_window_us``) and never moves back, so an id
that has left memory is older than the horizon and stays refused forever: an id is never
opened twice, yet memory holds only the ids made during one window (plus the tolerated
clock lead, ``order_id_lead_us``). Ids are kept in one-minute buckets by their time, so
forgetting a minute is one dict deletion, and a lookup is two.

Everything here is a pure function of the creates applied (entry times, not the wall
clock), and ``ids()``/``restore`` carry it through snapshots exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tradepro.domain.order_ids import order_id_time_ms

BUCKET_MS = 60_000


class OrderIdWindow:
    """The ids opened since the horizon, in buckets of ``BUCKET_MS`` by their time."""

    __slots__ = ("buckets", "horizon_ms")

    def __init__(self, horizon_ms: int = 0) -> None:
        self.horizon_ms = horizon_ms
        """Ids made before this time (ms since the epoch) are refused."""
        self.buckets: dict[int, dict[str, None]] = {}
        """Bucket number (time // BUCKET_MS) -> the ids of that minute, in opening order."""

    def __contains__(self, order_id: object) -> bool:
        if not isinstance(order_id, str):
            return False
        bucket = self.buckets.get(order_id_time_ms(order_id) // BUCKET_MS)
        return bucket is not None and order_id in bucket

    def __len__(self) -> int:
        return sum(map(len, self.buckets.values()))

    def add(self, order_id: str, time_ms: int) -> None:
        """Remember an opened id whose time (``order_id_time_ms``) is ``time_ms``."""
        bucket_number = time_ms // BUCKET_MS
        bucket = self.buckets.get(bucket_number)
        if bucket is None:
            bucket = self.buckets[bucket_number] = {}
        bucket[order_id] = None

    def advance(self, horizon_ms: int) -> None:
        """Move the horizon forward to ``horizon_ms`` and forget the minutes wholly before it."""
        if horizon_ms <= self.horizon_ms:
            return
        old_first = self.horizon_ms // BUCKET_MS
        self.horizon_ms = horizon_ms
        first_kept = horizon_ms // BUCKET_MS
        if first_kept > old_first:
            for number in [number for number in self.buckets if number < first_kept]:
                del self.buckets[number]

    def ids(self) -> Iterator[str]:
        """The remembered ids at or after the horizon, by bucket then in opening order."""
        horizon_ms = self.horizon_ms
        straddling = horizon_ms // BUCKET_MS
        for number, bucket in self.buckets.items():
            if number > straddling:
                yield from bucket
            elif number == straddling:
                yield from (i for i in bucket if order_id_time_ms(i) >= horizon_ms)

    @classmethod
    def restore(cls, horizon_ms: int, order_ids: Iterable[str]) -> OrderIdWindow:
        """The window that ``ids()`` and ``horizon_ms`` were taken from (same decisions)."""
        window = cls(horizon_ms)
        for order_id in order_ids:
            time_ms = order_id_time_ms(order_id)
            if time_ms >= horizon_ms:
                window.add(order_id, time_ms)
        return window
