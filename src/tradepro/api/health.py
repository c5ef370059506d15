"""``/health``: whether every engine shard answers, each asked once, all at once.

Each shard is asked for the account of a probe user that no one signs in as (a UUID that
hashes to that shard): an engine that answers, with the account or ``unknown_user``, is
up. With ``ENGINE_SHARDS=N`` one shard down leaves its users unable to trade or read
while the others carry on, so the API is healthy only when every shard answers, and the
body says which one does not (``tradepro up`` waits for a 200, so for every engine).
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from tradepro.bus.base import BusUnavailableError
from tradepro.bus.names import shard_of
from tradepro.bus.requests import Requester, RequestTimeoutError
from tradepro.domain.orders import RejectReason
from tradepro.protocol.kinds import Kind, Status

PROBE_TIMEOUT_S = 1.0
OK = "ok"
NOT_ANSWERING = "not answering"
BUS_DOWN = "bus unreachable"


@cache
def probe_users(shards: int) -> tuple[str, ...]:
    """One probe user id per shard: ``00000000-0000-4000-8000-<n>``, the first n on each
    shard (with one shard, the historical all-zero probe)."""
    found: dict[int, str] = {}
    number = 0
    while len(found) < shards:
        user_id = f"00000000-0000-4000-8000-{number:012x}"
        found.setdefault(shard_of(user_id, shards), user_id)
        number += 1
    return tuple(found[shard] for shard in range(shards))


async def probe(requester: Requester, user_id: str) -> str:
    """``OK`` when the engine of ``user_id``'s shard answers within a second."""
    try:
        reply = await requester.send_request_and_wait(
            Kind.GET_ACCOUNT, {"userId": user_id}, timeout_s=PROBE_TIMEOUT_S
        )
    except BusUnavailableError:
        return BUS_DOWN
    except RequestTimeoutError:
        return NOT_ANSWERING
    answered = reply.get("status") in (RejectReason.UNKNOWN_USER, Status.ACCOUNT)
    return OK if answered else NOT_ANSWERING


async def health(requester: Requester, shards: int) -> tuple[dict[str, Any], int]:
    """The ``/health`` body and status: 200 when every shard's engine answers, else 503."""
    states = await asyncio.gather(*(probe(requester, user) for user in probe_users(shards)))
    down = [shard for shard, state in enumerate(states) if state != OK]
    body: dict[str, Any] = {
        "status": "degraded" if down else "ok",
        "engine": not down,
        "shards": [{"shard": shard, "engine": state} for shard, state in enumerate(states)],
    }
    if down:
        body["message"] = _message(states, down)
    return body, 503 if down else 200


REASONS = {
    NOT_ANSWERING: f"its engine does not answer within {PROBE_TIMEOUT_S:g} s",
    BUS_DOWN: "its Redis cannot be reached",
}


def _message(states: list[str], down: list[int]) -> str:
    """What is wrong, for the person reading the body."""
    if all(state == BUS_DOWN for state in states):
        return "the message bus (Redis) cannot be reached: no engine can be asked"
    if len(states) == 1:
        return f"the engine does not answer within {PROBE_TIMEOUT_S:g} s: nobody can trade or read"
    wrong = "; ".join(f"shard {shard} of {len(states)}: {REASONS[states[shard]]}" for shard in down)
    whose = "that shard" if len(down) == 1 else "those shards"
    others = "" if len(down) == len(states) else "; the other shards' users trade on"
    return f"{wrong}. The users of {whose} can neither trade nor read{others}"
