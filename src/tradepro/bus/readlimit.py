"""Token buckets in Redis, shared by every API process, taken a lease at a time.

The read limit is checked on every read, so, as with orders (``tradepro.bus.ratelimit``),
a process takes a lease of several tokens from the key's bucket in one script call and
spends them locally. The bucket is refilled in the script from the caller's clock (the
API processes' clocks are assumed to agree, as the fixed windows assume), and a refusal is
remembered until the bucket will have a token again, so a client hammering a process past
its limit costs no round trip per read. Unspent tokens are dropped after ``HOLD_S``: over
any span, N processes together allow at most N x lease reads more than one process would
(the tokens each holds), and never more than the sustained rate over time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from tradepro.bus.batches import ScriptBatches
from tradepro.bus.clients import redis_client
from tradepro.bus.names import READ_LIMIT_KEY
from tradepro.bus.ratelimit import PRUNE_AT, lease_size

HOLD_S = 1.0
"""How long a process may keep tokens it took and has not spent."""

_TAKE = """
local results = {}
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[4 * i - 3]), tonumber(ARGV[4 * i - 2])
  local want, now = tonumber(ARGV[4 * i - 1]), tonumber(ARGV[4 * i])
  local saved = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(saved[1]), tonumber(saved[2])
  if tokens == nil or at == nil then tokens, at = burst, now end
  if now > at then
    tokens = math.min(burst, tokens + (now - at) * rate)
    at = now
  end
  local grant = math.max(0, math.min(want, math.floor(tokens)))
  tokens = tokens - grant
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(at))
  redis.call('EXPIRE', key, math.ceil(burst / rate) + 1)
  results[i] = {grant, tostring((1 - tokens) / rate)}
end
return results
"""
"""For each bucket KEYS[i] (``rate`` tokens a second up to ``burst``, refilled from the time
it was last counted to ``now``), take up to ``want`` whole tokens. Returns per key the
tokens taken and, as text (a script's numbers come back as integers), the seconds until
the next one. An idle bucket expires once it would be full anyway."""


@dataclass
class _Held:
    """One key's tokens held by this process."""

    tokens: int = 0
    expires: float = 0.0
    refused_until: float = 0.0
    """The bucket had no token: refused here, with no round trip, until then."""
    taking: asyncio.Future[None] | None = None
    """The last take asked for: while not done, the key's other reads wait for it."""


def _taken(held: _Held, now: float, result: Any) -> None:
    granted, wait_s = result
    held.tokens, held.expires = int(granted), now + HOLD_S
    if not held.tokens:
        held.refused_until = now + max(float(wait_s), 0.001)


class LeasedTokenBuckets:
    """``rate_per_s`` tokens a second per key, at most ``burst`` saved, kept in Redis; the
    takes asked for in one event-loop turn share one script call (``bus.batches``)."""

    def __init__(
        self,
        url: str,
        namespace: str,
        rate_per_s: float,
        burst: int,
        *,
        cluster: bool = False,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.lease = lease_size(burst)
        self._redis = redis_client(url, cluster=cluster)
        self._batches = ScriptBatches(self._redis, _TAKE, "read limit", cluster=cluster)
        self._prefix = f"{namespace}{READ_LIMIT_KEY}:"
        self._held: dict[str, _Held] = {}
        self._prune_at = PRUNE_AT

    @property
    def script_calls(self) -> int:
        """Round trips to Redis so far (the tests read it)."""
        return self._batches.calls

    async def take(self, key: str) -> float:
        """Take one token: 0 when there was one, else the seconds until there is."""
        held = self._held.get(key)
        if held is None:
            held = self._held[key] = _Held()
            if len(self._held) > self._prune_at:
                self._prune(time.time())
        while True:
            now = time.time()
            if held.tokens and now >= held.expires:
                held.tokens = 0  # held too long: spent by nobody
            if held.tokens:
                held.tokens -= 1
                return 0.0
            if now < held.refused_until:
                return held.refused_until - now
            if held.taking is None or held.taking.done():  # one take asked at a time
                args = (repr(self.rate_per_s), self.burst, self.lease, repr(now))
                take = partial(_taken, held, now)
                held.taking = self._batches.ask(self._prefix + key, args, take)
            await asyncio.shield(held.taking)  # a caller cancelled leaves it to the others

    def _prune(self, now: float) -> None:
        self._held = {
            key: held
            for key, held in self._held.items()
            if (held.tokens and held.expires > now)
            or held.refused_until > now
            or (held.taking is not None and not held.taking.done())
        }
        self._prune_at = max(PRUNE_AT, 2 * len(self._held))

    async def close(self) -> None:
        await self._redis.aclose()
