"""The API process's view of the callback queue in ``/metrics``: how many callbacks it
parsed and how many it passed over unparsed (other processes' replies). Read from the
``Requester`` when scraped, so the hot path keeps plain integer counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from tradepro.bus.requests import Requester


class RequesterCollector(Collector):
    """``tradepro_callbacks_decoded_total`` and ``tradepro_callbacks_skipped_total``."""

    def __init__(self, requester: Callable[[], Requester | None]) -> None:
        self._requester = requester
        """The running app's requester, or None before start-up (no samples then)."""

    def collect(self) -> Iterator[Metric]:
        requester = self._requester()
        if requester is None:
            return
        yield CounterMetricFamily(
            "tradepro_callbacks_decoded",
            "Callbacks this process parsed: its own replies and the events it subscribes to",
            value=requester.decoded,
        )
        yield CounterMetricFamily(
            "tradepro_callbacks_skipped",
            "Callbacks this process passed over unparsed: other processes' replies",
            value=requester.skipped,
        )
