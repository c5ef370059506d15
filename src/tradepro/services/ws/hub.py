"""Who gets what: the subscription indexes, the fan-out, and closing clients that fall behind.

The fan-out is synchronous: a message is handed to each subscriber (written, or queued in
its outbox) without ever waiting for a socket. A client whose outbox is full is closed
with 1013 ("try again later") and removed from every index at once, so it costs the others
nothing more. Order events pass a ``CausalGate`` first: one caused by a quote waits until
the price reader has handed that quote to the fan-out (``causal.py``).

Quotes are conflated: a quote replaces the asset's latest, and the latest quotes go out in
*price slots*, at most ``price_rate_per_s`` a second. A quote that arrives when the last
slot is at least ``1 / price_rate_per_s`` old is sent at once (the leading edge: a quiet
market costs no latency); one that comes sooner waits for the next slot, where only the
newest quote of each asset that changed is sent. So each client gets at most that many
``price`` messages per second per asset, each the latest, whatever the feed's rate; a
client that cannot take a slot's quotes gets the latest ones when it can (``clients.py``).
Slots also space out when sending one takes long (``SLOT_DUTY``).
In a slot, every client with the same assets gets the same bytes (the frames of those
quotes, joined: one write per client). The clients are kept grouped by the assets they
follow, so a slot joins the frames once per group and then only writes, client after
client: no per-client set or tuple is built.

Order events are never conflated: they keep their own in-order path (the outbox). One
released while quotes wait for their slot goes out with that slot, right after its quotes,
so it never overtakes the quote that caused it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from tradepro.services.ws.causal import ORDER_HOLD_MAX_S, CausalGate
from tradepro.services.ws.clients import Client, Outgoing, outgoing
from tradepro.services.ws.messages import ORDERS_CHANNEL, PRICES_PREFIX, error_message

log = logging.getLogger("tradepro.ws")


class OrderOut(NamedTuple):
    """An order event on its way to its owner's clients."""

    user_id: str
    payload: bytes
    seq: int | None


QUEUE_FULL_CLOSE_CODE = 1013
QUEUE_FULL = "queue_full"
SLOT_DUTY = 0.5
"""The largest share of the time a process spends sending price slots: when a slot takes
longer than ``SLOT_DUTY / price_rate_per_s`` (many clients, a saturated machine), the next
one waits accordingly, so the quotes each client gets are fewer but stay the latest, and
the process keeps time for everything else (reading the bus, order events, handshakes)."""


class Hub:
    """The connected clients, their subscriptions, and the latest quote per asset."""

    def __init__(
        self,
        *,
        close_timeout_s: float,
        price_rate_per_s: float,
        order_hold_max_s: float = ORDER_HOLD_MAX_S,
        shards: int = 1,
    ) -> None:
        self.close_timeout_s = close_timeout_s
        self.price_interval_s = 1.0 / price_rate_per_s
        """The least time between two price slots."""
        self.price_gap_s = self.price_interval_s
        """The time from the last slot to the next: ``price_interval_s``, or more after a
        slot that took long (``SLOT_DUTY``)."""
        self.gates: list[CausalGate[OrderOut]] = [
            CausalGate(order_hold_max_s) for _ in range(shards)
        ]
        """Per engine shard: its order events waiting for the quote that caused them (an
        event names an entry of its own shard's ``engine-stream``)."""
        self._expiry: asyncio.TimerHandle | None = None
        self.clients: set[Client] = set()
        self.latest_prices: dict[str, Outgoing] = {}
        """The last price message per asset, sent to a client when it subscribes."""
        self.opened = 0
        self.sent_by_departed = 0
        self.closed_by_server: Counter[str] = Counter()
        """Clients the server closed, by reason (``queue_full``, ``bad_token``, ...)."""
        self.errors: Counter[str] = Counter()
        """``error`` messages sent, by error word."""
        self.price_updates = 0
        self.price_slots = 0
        self.order_events = 0
        self._changed: set[str] = set()
        """Assets with a quote newer than the last slot (waiting for ``_slot_timer``)."""
        self._last_slot_s = -math.inf
        self._slot_timer: asyncio.TimerHandle | None = None
        self._orders_after_slot: list[OrderOut] = []
        """Order events released while quotes wait for their slot: sent right after it."""
        self._prices: dict[str, set[Client]] = {}
        self._price_groups: dict[tuple[str, ...], set[Client]] = {}
        """The clients by their ``price_assets`` (those following no asset are left out)."""
        self._orders: dict[str, set[Client]] = {}
        self.latest_seq: dict[str, int] = {}
        """Per user: the ``seq`` of the last account event this process passed on (what a
        replay must reach before its client goes live, ``replay.py``)."""
        self.replaying: dict[Client, list[tuple[int, Outgoing]]] = {}
        """Clients whose missed events are being read: their live order events wait here."""
        self.floors: dict[Client, int] = {}
        """Clients whose replay is done, until their first live event after it: the seq
        it reached (a live event up to it was replayed already)."""
        self._closing: set[asyncio.Task[None]] = set()

    # -- membership ---------------------------------------------------------------------

    def join(self, client: Client) -> None:
        self.clients.add(client)
        self.opened += 1

    def leave(self, client: Client) -> None:
        self.replaying.pop(client, None)
        self.floors.pop(client, None)
        self._unindex(client, client.channels)
        self._regroup(client, ())
        self.clients.discard(client)
        self.sent_by_departed += client.sent
        client.sent = 0
        if client.expiry is not None:
            client.expiry.cancel()

    def subscribe(self, client: Client, channels: Iterable[str]) -> list[str]:
        """Add ``channels`` (``orders`` needs ``client.user_id``); returns the new ones."""
        added = [channel for channel in channels if channel not in client.channels]
        for channel in added:
            self._index(channel, client).add(client)
        client.channels.update(added)
        self._regroup(client, self._price_assets(client.channels))
        return added

    def unsubscribe(self, client: Client, channels: Iterable[str]) -> None:
        gone = client.channels.intersection(channels)
        if ORDERS_CHANNEL in gone:
            self.replaying.pop(client, None)
            self.floors.pop(client, None)
        self._unindex(client, gone)
        client.channels.difference_update(gone)
        self._regroup(client, self._price_assets(client.channels))

    def subscribers(self, channel: str) -> int:
        if channel == ORDERS_CHANNEL:
            return sum(len(clients) for clients in self._orders.values())
        return len(self._prices.get(channel.removeprefix(PRICES_PREFIX), ()))

    def _index(self, channel: str, client: Client) -> set[Client]:
        if channel == ORDERS_CHANNEL:
            assert client.user_id is not None, "orders needs an authenticated client"
            return self._orders.setdefault(client.user_id, set())
        return self._prices.setdefault(channel.removeprefix(PRICES_PREFIX), set())

    @staticmethod
    def _price_assets(channels: Iterable[str]) -> tuple[str, ...]:
        """The assets of the price channels among ``channels``, sorted (a slot's order)."""
        return tuple(
            sorted(c.removeprefix(PRICES_PREFIX) for c in channels if c.startswith(PRICES_PREFIX))
        )

    def _regroup(self, client: Client, assets: tuple[str, ...]) -> None:
        """Move ``client`` to the group of the clients following exactly ``assets``."""
        before = client.price_assets
        if before == assets:
            return
        group = self._price_groups.get(before)
        if group is not None:
            group.discard(client)
            if not group:
                del self._price_groups[before]
        client.price_assets = assets
        if assets:
            self._price_groups.setdefault(assets, set()).add(client)

    def _unindex(self, client: Client, channels: Iterable[str]) -> None:
        for channel in channels:
            if channel == ORDERS_CHANNEL:
                index, key = self._orders, client.user_id or ""
            else:
                index, key = self._prices, channel.removeprefix(PRICES_PREFIX)
            clients = index.get(key)
            if clients is not None:
                clients.discard(client)
                if not clients:
                    del index[key]

    # -- fan-out ------------------------------------------------------------------------

    @property
    def quotes_waiting(self) -> bool:
        """Whether quotes wait for the next price slot."""
        return bool(self._changed)

    def publish_price(self, asset: str, payload: bytes) -> None:
        """A new quote: the asset's latest from now on, sent at once if the last price
        slot is old enough, else with the next slot (see the module)."""
        self.price_updates += 1
        self.latest_prices[asset] = outgoing(payload)
        self._changed.add(asset)
        if self._slot_timer is not None:
            return  # the next slot takes it
        loop = asyncio.get_running_loop()
        due_s = self._last_slot_s + self.price_gap_s
        if loop.time() >= due_s:
            self._price_slot()
        else:
            self._slot_timer = loop.call_at(due_s, self._price_slot)

    def _price_slot(self) -> None:
        """Send the latest quote of each changed asset to its subscribers (one write per
        client), then the order events that waited for it."""
        self._slot_timer = None
        self._last_slot_s = asyncio.get_running_loop().time()
        started_s = time.monotonic()  # (the loop's clock may stand still within a callback)
        changed, self._changed = self._changed, set()
        self.price_slots += 1
        latest = self.latest_prices
        joined: dict[tuple[str, ...], bytes] = {}
        for assets, clients in self._price_groups.items():
            sent = tuple(a for a in assets if a in changed)  # once per group, not per client
            if not sent:
                continue
            frames = joined.get(sent)
            if frames is None:
                frames = joined[sent] = b"".join(latest[a].frame for a in sent)
            for client in clients:
                client.offer_prices(sent, frames)
        took_s = time.monotonic() - started_s
        self.price_gap_s = max(self.price_interval_s, took_s / SLOT_DUTY)
        if self._orders_after_slot:
            waiting, self._orders_after_slot = self._orders_after_slot, []
            self._deliver_orders(waiting)

    def publish_to_price_subscribers(self, payload: bytes) -> None:
        """One message to every client subscribed to any price channel, once each."""
        clients: set[Client] = set().union(*self._prices.values())
        self._fan_out(clients, outgoing(payload))

    def publish_order(
        self,
        user_id: str,
        payload: bytes,
        caused_by: str | None = None,
        seq: int | None = None,
        shard: int = 0,
    ) -> None:
        """Send an order event to its owner once the reader of ``shard``'s stream has passed
        ``caused_by`` (the entry it answers), so it never overtakes that quote."""
        released = self.gates[shard].offer(
            OrderOut(user_id, payload, seq), caused_by, time.monotonic()
        )
        self._send_orders(released)

    def stream_passed(self, entry_id: str, shard: int = 0) -> None:
        """The reader of ``shard``'s stream has handled ``entry_id`` (and fanned it out if
        it is a quote)."""
        released = self.gates[shard].advance(entry_id, time.monotonic())
        if released:
            self._send_orders(released)

    def _send_orders(self, released: list[OrderOut]) -> None:
        if self._changed:  # their quotes wait for the next slot: go right after them
            self._orders_after_slot.extend(released)
        else:
            self._deliver_orders(released)
        self._schedule_expiry()

    def _deliver_orders(self, released: list[OrderOut]) -> None:
        replaying, floors = self.replaying, self.floors
        for user_id, payload, seq in released:
            self.order_events += 1
            if seq is not None and seq > self.latest_seq.get(user_id, 0):
                self.latest_seq[user_id] = seq
            clients = self._orders.get(user_id)
            if (replaying or floors) and clients:
                special = [c for c in clients if c in replaying or c in floors]
                if special:
                    self._deliver_special(special, seq, outgoing(payload))
                    clients = clients.difference(special)
            self._fan_out(clients, outgoing(payload))

    def _deliver_special(self, clients: list[Client], seq: int | None, message: Outgoing) -> None:
        """A live event for clients still replaying (held) or just done (``floors``: an
        event the replay already sent, released late by the causal gate, is not sent
        again)."""
        held = [client for client in clients if client in self.replaying]
        if held:
            self._hold(held, seq, message)
        for client in clients:
            if client in self.replaying:
                continue
            floor = self.floors.pop(client)
            if seq is not None and seq <= floor:
                self.floors[client] = floor  # already replayed: skip it, keep the floor
                continue
            self._offer(client, message)

    def _hold(self, clients: list[Client], seq: int | None, message: Outgoing) -> None:
        """Keep a live event for clients still replaying (sent after their replay)."""
        for client in clients:
            waiting = self.replaying[client]
            if seq is None:
                continue  # a body from before numbering: the replay covers it
            if len(waiting) >= client.queue_limit:
                self.close(client, QUEUE_FULL_CLOSE_CODE, "send queue overflow", QUEUE_FULL)
                continue
            waiting.append((seq, message))

    def start_replay(self, client: Client) -> None:
        """From now on, hold ``client``'s live order events until ``end_replay``."""
        self.replaying[client] = []

    def first_held_seq(self, client: Client) -> int | None:
        waiting = self.replaying.get(client)
        return waiting[0][0] if waiting else None

    def end_replay(self, client: Client, replayed_through: int) -> None:
        """Send the held live events after ``replayed_through`` (the replay sent the
        others), in order, and go live."""
        waiting = self.replaying.pop(client, [])
        self.floors[client] = replayed_through
        for seq, message in waiting:
            if seq > replayed_through:
                self.floors.pop(client, None)
                self._offer(client, message)

    def _schedule_expiry(self) -> None:
        """A timer at the oldest held event's deadline (``max_hold_s``), if one waits."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        deadlines = [d for d in (gate.next_deadline_s for gate in self.gates) if d is not None]
        if deadlines:
            deadline_s = min(deadlines)
            delay_s = max(0.0, deadline_s - time.monotonic())
            self._expiry = asyncio.get_running_loop().call_later(delay_s, self._on_expiry)

    def _on_expiry(self) -> None:
        self._expiry = None
        now_s = time.monotonic()
        self._send_orders([event for gate in self.gates for event in gate.expire(now_s)])

    def reply(self, client: Client, payload: bytes) -> None:
        """Send one client a message of its own (in order with everything else it gets)."""
        self._offer(client, outgoing(payload))

    def send_latest_prices(self, client: Client, channels: Iterable[str]) -> None:
        """The last quote of each of these price channels, so a new subscriber need not
        wait for the next tick."""
        for channel in sorted(channels):
            latest = self.latest_prices.get(channel.removeprefix(PRICES_PREFIX))
            if channel.startswith(PRICES_PREFIX) and latest is not None:
                self._offer(client, latest)

    def _offer(self, client: Client, message: Outgoing) -> None:
        if not client.offer(message):
            self.close(client, QUEUE_FULL_CLOSE_CODE, "send queue overflow", QUEUE_FULL)

    def reply_error(self, client: Client, error: str, message: str) -> None:
        self.errors[error] += 1
        self.reply(client, error_message(error, message))

    def _fan_out(self, clients: set[Client] | None, message: Outgoing) -> None:
        if not clients:
            return
        behind = [client for client in clients if not client.offer(message)]
        for client in behind:
            self.close(client, QUEUE_FULL_CLOSE_CODE, "send queue overflow", QUEUE_FULL)

    # -- closing ------------------------------------------------------------------------

    def close(self, client: Client, code: int, reason: str, why: str) -> None:
        """Stop sending to ``client`` and close it in the background (bounded, see
        ``Client.close``); ``why`` is counted. A second call for the same client is a no-op."""
        if client.closing is not None:
            return
        self._unindex(client, client.channels)
        self._regroup(client, ())
        self.replaying.pop(client, None)
        self.floors.pop(client, None)
        client.channels.clear()
        client.discard_queued()
        self.closed_by_server[why] += 1
        level = logging.INFO if why == QUEUE_FULL else logging.DEBUG
        log.log(level, "closing a client (%s, code %d): %s", why, code, reason)
        task = asyncio.create_task(client.close(code, reason, self.close_timeout_s))
        client.closing = task
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_all(self, code: int, reason: str) -> None:
        """Close every client (on shutdown) and wait until each is closed or aborted."""
        for client in list(self.clients):
            self.close(client, code, reason, "shutdown")
        if self._slot_timer is not None:
            self._slot_timer.cancel()
            self._slot_timer = None
        if self._closing:
            await asyncio.wait(list(self._closing))
