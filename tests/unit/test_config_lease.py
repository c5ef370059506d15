"""The engine lease's timing: defaults that fail over within 3 s, and a renew interval that
leaves room to miss one renewal."""

from __future__ import annotations

import pytest

from tradepro.config import SettingsError, load_settings


def test_the_defaults_fail_over_within_three_seconds() -> None:
    settings = load_settings()
    assert settings.engine_lease_ttl_ms + settings.engine_lease_renew_ms <= 3000
    assert settings.engine_lease_renew_ms * 2 <= settings.engine_lease_ttl_ms


def test_a_renewal_slower_than_half_the_ttl_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE_LEASE_TTL_MS", "1000")
    monkeypatch.setenv("ENGINE_LEASE_RENEW_MS", "600")
    with pytest.raises(SettingsError, match="ENGINE_LEASE_RENEW_MS must be at most half"):
        load_settings()


def test_a_ttl_too_short_to_renew_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE_LEASE_TTL_MS", "50")
    with pytest.raises(SettingsError, match="engine_lease_ttl_ms"):
        load_settings()
