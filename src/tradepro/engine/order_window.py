"""Which order ids the engine has opened: "ever", in bounded memory.

Order ids are version 7 UUIDs (``tradepro.domain.order_ids``): each carries the time it
was made. The engine keeps the ids it opened whose time is at or after a *horizon*, and
refuses every id made before the horizon. The horizon is the latest create's entry time
minus the window (``EngineConfig.order_id_window_us``) and never moves back, so an id
that has left memory is older than the horizon and stays refused forever: an id is never
opened twice, yet memory holds only the ids made during one window (plus the tolerated
clock lead, ``order_id_lead_us``).

The hot path compares strings, never parses: in a canonical lowercase version 7 UUID the
first 13 characters (``tttttttt-tttt``) are its time in fixed-width hex, so they order
like the time itself, and the first 8 (the time's top 32 bits) name a bucket of 65.536 s.
Ids are kept in those buckets, so forgetting a bucket is one dict deletion and a lookup
two. Everything here is a pure function of the creates applied (entry times, not the wall
clock), and ``ids()``/``restore`` carry it through snapshots exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter

BUCKET_MS = 1 << 16
"""The ids whose times share their top 32 bits (their first 8 characters) share a bucket."""
_MAX_MS = (1 << 48) - 1
_bucket_of = itemgetter(slice(0, 8))
"""An id's bucket: its first 8 characters."""


def time_prefix(unix_ms: int) -> str:
    """The first 13 characters of a version 7 UUID made at ``unix_ms`` (clamped to 48 bits)."""
    digits = f"{min(max(unix_ms, 0), _MAX_MS):012x}"
    return f"{digits[:8]}-{digits[8:]}"


class OrderIdWindow:
    """The ids opened since the horizon, in buckets of ``BUCKET_MS`` by their time."""

    __slots__ = ("buckets", "horizon_ms", "horizon_prefix")

    def __init__(self, horizon_ms: int = 0) -> None:
        self.horizon_ms = horizon_ms
        """Ids made before this time (ms since the epoch) are refused."""
        self.horizon_prefix = time_prefix(horizon_ms)
        """``time_prefix(horizon_ms)``: an id whose first 13 characters sort before it is
        older than the horizon."""
        self.buckets: dict[str, dict[str, str]] = {}
        """Bucket (an id's first 8 characters) -> its ids, in opening order, each mapped to
        itself (so a restore can share one string between an id and its open position)."""

    def __contains__(self, order_id: object) -> bool:
        if not isinstance(order_id, str):
            return False
        bucket = self.buckets.get(order_id[:8])
        return bucket is not None and order_id in bucket

    def __len__(self) -> int:
        return sum(map(len, self.buckets.values()))

    def add(self, order_id: str) -> None:
        """Remember an opened id."""
        bucket = self.buckets.get(order_id[:8])
        if bucket is None:
            bucket = self.buckets[order_id[:8]] = {}
        bucket[order_id] = order_id

    def keep(self, order_ids: Iterable[str]) -> list[str]:
        """Remember each of ``order_ids`` that is at or after the horizon (as ``restore``
        does), and return the strings the window holds for them: a restore passes the ids
        of open positions, which then share one string each with the window, not two.

        One call per chunk of ids, not per id: a restore keeps millions, nearly in time
        order, so consecutive ids share a bucket. A chunk whose ids all fall in one
        bucket (its smallest and largest id share the bucket) is one ``dict.update``;
        otherwise each run of ids in one bucket is one ``map(bucket.setdefault, ...)``
        in C, and only the bucket that straddles the horizon is looked at id by id."""
        if not isinstance(order_ids, list):
            order_ids = list(order_ids)
        if order_ids:
            first, last = min(order_ids), max(order_ids)
            if first[:8] == last[:8] and first[:13] >= self.horizon_prefix:
                return self._keep_in_one_bucket(order_ids, first[:8])
        horizon_prefix, buckets = self.horizon_prefix, self.buckets
        straddling = horizon_prefix[:8]
        kept: list[str] = []
        for prefix, run in groupby(order_ids, _bucket_of):
            if prefix < straddling:
                kept.extend(run)  # wholly before the horizon: refused anyway, not kept
            elif prefix > straddling:
                ids = list(run)
                bucket = buckets.setdefault(prefix, {})
                kept.extend(map(bucket.setdefault, ids, ids))
            else:
                for order_id in run:
                    if order_id[:13] < horizon_prefix:
                        kept.append(order_id)
                    else:
                        kept.append(buckets.setdefault(prefix, {}).setdefault(order_id, order_id))
        return kept

    def _keep_in_one_bucket(self, order_ids: list[str], prefix: str) -> list[str]:
        """``keep`` of ids that all belong to one bucket at or after the horizon (a chunk
        of a restore, normally): one ``dict.update`` in C into a new bucket, else one
        ``map(bucket.setdefault, ...)`` (a single pass over a bucket of millions: checking
        first that none is there cost as much again). A repeat gets the first string, as
        in ``keep``."""
        bucket = self.buckets.setdefault(prefix, {})
        if bucket:
            return list(map(bucket.setdefault, order_ids, order_ids))
        bucket.update(zip(order_ids, order_ids, strict=True))
        if len(bucket) == len(order_ids):
            return order_ids  # all new: the window holds these very strings
        reverse = order_ids[::-1]  # repeats among them: each maps to its first string
        bucket.update(zip(reverse, reverse, strict=True))
        return list(map(bucket.__getitem__, order_ids))

    def advance(self, horizon_ms: int) -> None:
        """Move the horizon forward to ``horizon_ms`` and forget the buckets wholly before it."""
        if horizon_ms <= self.horizon_ms:
            return
        old_first = self.horizon_prefix[:8]
        self.horizon_ms = horizon_ms
        self.horizon_prefix = time_prefix(horizon_ms)
        first_kept = self.horizon_prefix[:8]
        if first_kept != old_first:
            for key in [key for key in self.buckets if key < first_kept]:
                del self.buckets[key]

    def ids(self) -> Iterator[str]:
        """The remembered ids at or after the horizon, by bucket then in opening order."""
        horizon_prefix = self.horizon_prefix
        straddling = horizon_prefix[:8]
        for key, bucket in self.buckets.items():
            if key > straddling:
                yield from bucket
            elif key == straddling:
                yield from (i for i in bucket if i[:13] >= horizon_prefix)

    @classmethod
    def restore(cls, horizon_ms: int, order_ids: Iterable[str]) -> OrderIdWindow:
        """The window that ``ids()`` and ``horizon_ms`` were taken from (same decisions)."""
        window = cls(horizon_ms)
        window.keep(order_ids)
        return window
