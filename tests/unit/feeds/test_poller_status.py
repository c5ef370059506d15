"""The poller's self-report: Prometheus metrics from its counters, throttled drop warnings."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tradepro.feeds.backpack import Dropped, DropReason
from tradepro.services.poller.status import DropWarnings, PollerStats, StatsCollector

NOW_US = 1_700_000_000_000_000


class Candles:
    saved = 12
    failures = 1

    def pending(self) -> int:
        return 3


def scrape(stats: PollerStats) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(StatsCollector(stats, lambda: NOW_US))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_show_the_counters_per_asset_and_reason() -> None:
    stats = PollerStats(feed="backpack", assets=("BTC_USDC", "ETH_USDC"), candles=Candles())
    stats.connected = True
    stats.received["BTC_USDC"] = 7
    stats.published["BTC_USDC"] = 5
    stats.coalesced["BTC_USDC"] = 2
    stats.dropped["crossed"] = 4
    stats.reconnects = 1
    stats.last_quote_us["BTC_USDC"] = NOW_US - 1_500_000
    metrics = scrape(stats)
    assert metrics[("tradepro_poller_connected", ())] == 1
    assert metrics[("tradepro_poller_engine_holding", ())] == 0
    assert metrics[("tradepro_poller_reconnects_total", ())] == 1
    btc, eth = (("asset", "BTC_USDC"),), (("asset", "ETH_USDC"),)
    assert metrics[("tradepro_poller_quotes_received_total", btc)] == 7
    assert metrics[("tradepro_poller_quotes_received_total", eth)] == 0
    assert metrics[("tradepro_poller_quotes_published_total", btc)] == 5
    assert metrics[("tradepro_poller_quotes_coalesced_total", btc)] == 2
    assert metrics[("tradepro_poller_messages_dropped_total", (("reason", "crossed"),))] == 4
    assert metrics[("tradepro_poller_messages_dropped_total", (("reason", "malformed"),))] == 0
    assert metrics[("tradepro_poller_last_quote_age_seconds", btc)] == pytest.approx(1.5)
    assert ("tradepro_poller_last_quote_age_seconds", eth) not in metrics  # no quote yet
    assert metrics[("tradepro_poller_candles_saved_total", ())] == 12
    assert metrics[("tradepro_poller_candles_pending", ())] == 3


def test_drop_warnings_log_the_first_then_one_line_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    warnings = DropWarnings(every_s=10.0, clock=lambda: now[0])
    crossed = Dropped(DropReason.CROSSED, "bid > ask")
    malformed = Dropped(DropReason.MALFORMED, "not JSON")
    with caplog.at_level(logging.WARNING, logger="tradepro.poller"):
        for _ in range(1000):
            warnings.note(crossed)
        warnings.note(malformed)  # another reason has its own window
        assert len(caplog.records) == 2
        now[0] = 10.0
        warnings.note(crossed)
        assert len(caplog.records) == 3
