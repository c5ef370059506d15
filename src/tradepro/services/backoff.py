"""Exponential backoff with full jitter, for reconnect loops."""

from __future__ import annotations

import random


class Backoff:
    """Delays of ``base_s * 2**n`` capped at ``cap_s``, each drawn uniformly below that."""

    def __init__(self, base_s: float = 0.05, cap_s: float = 5.0) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self._random = random.Random()

    def next_delay_s(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** min(self.failures, 32))
        self.failures += 1
        return self._random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0
