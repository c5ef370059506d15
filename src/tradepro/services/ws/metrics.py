"""``/metrics`` and ``/health`` of the WebSocket server, read from the hub and the feeds.

The hot path only bumps plain integers; this collector turns them into Prometheus metrics
when scraped, so a message costs no lock and no label lookup.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from tradepro.services.ws.feeds import OrderFeed, PriceFeed
from tradepro.services.ws.hub import Hub
from tradepro.services.ws.messages import ORDERS_CHANNEL, price_channel

CLOSE_REASONS = ("queue_full", "bad_token", "token_expired", "shutdown")


class GatewayCollector:
    """A Prometheus collector over the gateway's counters."""

    def __init__(
        self, hub: Hub, prices: PriceFeed, orders: OrderFeed, assets: Iterable[str]
    ) -> None:
        self.hub = hub
        self.prices = prices
        self.orders = orders
        self.channels = [*map(price_channel, assets), ORDERS_CHANNEL]

    def collect(self) -> Iterator[Metric]:
        hub = self.hub
        yield GaugeMetricFamily("tradepro_ws_connections", "Open connections", len(hub.clients))
        yield GaugeMetricFamily(
            "tradepro_ws_authenticated_connections",
            "Open connections with a verified session",
            sum(1 for client in hub.clients if client.user_id is not None),
        )
        subscriptions = GaugeMetricFamily(
            "tradepro_ws_subscriptions", "Clients subscribed, by channel", labels=["channel"]
        )
        for channel in self.channels:
            subscriptions.add_metric([channel], hub.subscribers(channel))
        yield subscriptions
        yield CounterMetricFamily(
            "tradepro_ws_connections_opened", "Connections accepted", hub.opened
        )
        sent = hub.sent_by_departed + sum(client.sent for client in hub.clients)
        yield CounterMetricFamily("tradepro_ws_messages_sent", "Messages sent to clients", sent)
        closed = CounterMetricFamily(
            "tradepro_ws_closed_by_server",
            "Clients the server closed, by reason (queue_full: 1013; bad/expired token: 4401)",
            labels=["reason"],
        )
        for reason in sorted({*CLOSE_REASONS, *hub.closed_by_server}):
            closed.add_metric([reason], hub.closed_by_server[reason])
        yield closed
        errors = CounterMetricFamily(
            "tradepro_ws_error_messages", "Error messages sent, by error", labels=["error"]
        )
        for error, count in sorted(hub.errors.items()):
            errors.add_metric([error], count)
        yield errors
        yield CounterMetricFamily(
            "tradepro_ws_price_updates", "Valid quotes read (then conflated)", hub.price_updates
        )
        yield CounterMetricFamily(
            "tradepro_ws_price_slots",
            "Price slots: sends of the latest quotes (at most WS_PRICE_RATE_PER_S a second)",
            hub.price_slots,
        )
        yield CounterMetricFamily(
            "tradepro_ws_price_updates_ignored",
            "price-update entries not passed on (unknown asset, malformed or crossed)",
            self.prices.ignored,
        )
        yield CounterMetricFamily(
            "tradepro_ws_order_events", "Order events fanned out", hub.order_events
        )
        yield CounterMetricFamily(
            "tradepro_ws_bus_read_failures", "Failed engine-stream reads", self.prices.read_failures
        )
        yield GaugeMetricFamily("tradepro_ws_bus_up", "Whether the bus answers", self.bus_up)

    @property
    def bus_up(self) -> bool:
        """The prices are read, and every shard's callback queue (the order events)."""
        reading = self.orders.requester.reading
        return self.prices.connected and self.orders.started and all(reading)

    def health(self) -> dict[str, Any]:
        """The ``/health`` body: ``ok`` while the bus answers, with connection counts; per
        engine shard, whether its callback queue (its users' order events) is being read.
        With several processes on the port (``WS_PROCESSES``), ``pid`` says which one
        answered."""
        hub = self.hub
        reading = self.orders.requester.reading
        up = self.bus_up
        body: dict[str, Any] = {
            "status": "ok" if up else "degraded",
            "bus": up,
            "shards": [
                {"shard": shard, "events": "reading" if now else "not reading"}
                for shard, now in enumerate(reading)
            ],
        }
        if not up:
            body["message"] = self._trouble(reading)
        return body | {
            "pid": os.getpid(),
            "connections": len(hub.clients),
            "authenticated": sum(1 for client in hub.clients if client.user_id is not None),
            "closedByServer": dict(hub.closed_by_server),
        }

    def _trouble(self, reading: list[bool]) -> str:
        if not self.prices.connected or not self.orders.started:
            return "the message bus (Redis) cannot be read: no prices and no order events"
        stuck = [shard for shard, now in enumerate(reading) if not now]
        named = ", ".join(map(str, stuck))
        return (
            f"the order events of shard{'s' if len(stuck) > 1 else ''} {named} of "
            f"{len(reading)} cannot be read: their users get no order events"
        )


def metrics_registry(collector: GatewayCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
