"""The idempotency retention: at least a day, and the engine's order id window follows it."""

from __future__ import annotations

import pytest

from tradepro.config import SettingsError, load_settings


def test_the_order_id_window_is_the_retention_plus_an_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDEMPOTENCY_RETENTION_S", "172800")
    settings = load_settings()
    assert settings.idempotency_retention_s == 172_800
    assert settings.engine_config().order_id_window_us == (172_800 + 3600) * 1_000_000


def test_a_retention_shorter_than_a_day_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEMPOTENCY_RETENTION_S", "3600")
    with pytest.raises(SettingsError, match="idempotency_retention_s"):
        load_settings()
