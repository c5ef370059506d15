"""``since``: a client that subscribes to ``orders`` with the ``seq`` of the last event it
has gets every later event once, in order, then the live ones.

The race: events keep coming while the missed ones are read. So the client joins the live
fan-out first, with its live events held aside (``Hub.start_replay``); then the durable log
(``account_events``) is read after ``since``, page by page, and sent; the replay is done
when it has reached both the first held event and the last event this process has passed
on for the user (``Hub.latest_seq``). The engine service writes the log right after each
batch, so an event the live stream has passed may not be in it yet: the replay then polls
for a few seconds rather than leave a gap. Finally the held events after the last replayed
one go out (``Hub.end_replay``) and the client is live. A ``seq`` is never sent twice and
never skipped.

Events older than the log's retention cannot be replayed: the client gets
``events_expired`` and goes live; it must read its orders again from the REST routes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError

from tradepro.db.account_events import EventsExpiredError
from tradepro.services.ws.clients import Client
from tradepro.services.ws.hub import Hub

log = logging.getLogger("tradepro.ws")

PAGE_EVENTS = 200
"""Events read from the log per query."""
LOG_WAIT_S = 5.0
"""How long a replay waits for the log to catch up with the live stream."""
POLL_S = 0.05


ReadEvents = Callable[[str, int, int], Awaitable[list[tuple[int, str]]]]
"""``(user id, since, limit) -> [(seq, payload)]``: ``db.account_events.read_events``."""


async def replay(hub: Hub, read_events: ReadEvents, client: Client, since: int) -> None:
    """Send ``client`` its events after ``since`` from the log, then its held live ones.

    ``hub.start_replay(client)`` has been called (right when it subscribed)."""
    user_id = client.user_id
    assert user_id is not None
    last = since
    deadline_s = time.monotonic() + LOG_WAIT_S
    try:
        while client in hub.replaying:
            rows = await read_events(user_id, last, PAGE_EVENTS)
            if client not in hub.replaying:
                return  # closed or unsubscribed meanwhile
            for seq, payload in rows:
                hub.reply(client, payload.encode())
                last = seq
            if len(rows) == PAGE_EVENTS:
                await _drained(client)
                continue
            if last >= _goal(hub, client, user_id):
                break
            if time.monotonic() > deadline_s:
                hub.reply_error(
                    client,
                    "events_unavailable",
                    f"events after seq {last} are not readable yet: subscribe again with "
                    f"since {last} in a moment",
                )
                hub.unsubscribe(client, ["orders"])
                return
            await asyncio.sleep(POLL_S)
    except EventsExpiredError as error:
        hub.reply_error(client, "events_expired", str(error))
        last = -1  # live from now on: every held event goes out
    except (SQLAlchemyError, OSError) as error:
        log.warning("cannot read missed events for a client (%s)", error)
        hub.reply_error(
            client,
            "events_unavailable",
            f"missed events cannot be read now: subscribe again with since {last} shortly",
        )
        hub.unsubscribe(client, ["orders"])
        return
    if client in hub.replaying:
        log.debug("replayed seq %d..%d to a client", since + 1, last)
        hub.end_replay(client, last)


def _goal(hub: Hub, client: Client, user_id: str) -> int:
    """The seq the replay must reach: just before the first held live event, and at least
    the last event this process passed on for the user before the client subscribed."""
    first_held = hub.first_held_seq(client)
    passed = hub.latest_seq.get(user_id, 0)
    return max(passed if first_held is None else first_held - 1, 0)


async def _drained(client: Client) -> None:
    """Wait while the client's outbox is over half full (a long replay never overflows it)."""
    while client.queued > client.queue_limit // 2 and client.closing is None:
        await asyncio.sleep(POLL_S)
