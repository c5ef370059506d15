"""Exponential backoff with jitter: the one used by every retry and reconnect loop.

The ceiling of attempt ``n`` (counted from 0 since the last success) is
``min(cap_s, base_s * 2**n)``. Each delay is drawn uniformly below it, from
``[ceiling / 2, ceiling]`` (``EQUAL_JITTER``, the default: retries against our own bus and
database, which come back as a whole) or from ``[0, ceiling]`` (``FULL_JITTER``: many
clients of an outside service that failed together spread out instead of retrying in step).
"""

from __future__ import annotations

import random
from typing import Final

FULL_JITTER: Final = 0.0
"""Delays drawn from ``[0, ceiling]``."""

EQUAL_JITTER: Final = 0.5
"""Delays drawn from ``[ceiling / 2, ceiling]``."""


class Backoff:
    """Delays of ``base_s * 2**n`` capped at ``cap_s``, each drawn uniformly between
    ``jitter * ceiling`` and the ceiling; ``reset()`` after a success starts over."""

    def __init__(
        self,
        base_s: float = 0.05,
        cap_s: float = 5.0,
        *,
        jitter: float = EQUAL_JITTER,
        rng: random.Random | None = None,
    ) -> None:
        if not (0 < base_s <= cap_s):
            raise ValueError("need 0 < base_s <= cap_s")
        if not (0.0 <= jitter <= 1.0):
            raise ValueError(
                "need 0 <= jitter <= 1 (the lowest delay as a fraction of the ceiling)"
            )
        self.base_s = base_s
        self.cap_s = cap_s
        self.jitter = jitter
        self.failures = 0
        self._rng = rng or random.Random()

    def ceiling_s(self) -> float:
        """The largest delay the next attempt may draw."""
        return min(self.cap_s, self.base_s * float(2 ** min(self.failures, 32)))

    def next_delay_s(self) -> float:
        """The delay before the next attempt (and one more failure counted)."""
        ceiling = self.ceiling_s()
        self.failures += 1
        return self._rng.uniform(ceiling * self.jitter, ceiling)

    def reset(self) -> None:
        self.failures = 0
