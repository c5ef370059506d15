"""The rules behind the same-origin checks and the forwarded client address."""

from __future__ import annotations

import pytest

from tradepro.api.proxies import ForwardedFor
from tradepro.config import Settings, SettingsError, load_settings
from tradepro.security.origin import from_own_page, origin_allowed, origin_of, public_origins


def test_origins_are_compared_normalized() -> None:
    assert origin_of("HTTPS://Trade.Example.com:443/app?x=1") == "https://trade.example.com"
    assert origin_of("http://[::1]:4000") == "http://[::1]:4000"
    for not_an_origin in ("null", "", "file:///etc", "ws://host", "http://", "http://h:99999"):
        assert origin_of(not_an_origin) is None, not_an_origin
    own = public_origins("https://trade.example.com/")
    assert own == {"https://trade.example.com"}
    assert origin_allowed("https://trade.example.com", own)
    for foreign in ("http://trade.example.com", "https://trade.example.com.evil.example",
                    "https://evil.example", "null", None):  # fmt: skip
        assert not origin_allowed(foreign, own), foreign


def test_a_loopback_public_url_allows_each_loopback_name_on_its_port_only() -> None:
    own = public_origins("http://localhost:4000")
    assert own == {"http://localhost:4000", "http://127.0.0.1:4000", "http://[::1]:4000"}
    assert not origin_allowed("http://localhost:5555", own)  # the same site, another origin
    listed = public_origins("http://localhost:4000", ["https://a.example", "http://b.example:81"])
    assert listed == {"https://a.example", "http://b.example:81"}  # the list replaces it


def test_own_pages_by_origin_or_by_the_browsers_fetch_metadata() -> None:
    own = public_origins("https://trade.example.com")

    def headers(**values: str) -> list[tuple[bytes, bytes]]:
        return [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in values.items()]

    assert from_own_page(headers(Origin="https://trade.example.com"), own)
    assert from_own_page(headers(Sec_Fetch_Site="same-origin"), own)
    assert from_own_page(headers(Sec_Fetch_Site="none"), own)
    assert not from_own_page(headers(Sec_Fetch_Site="same-site", Origin="https://x.example"), own)
    assert not from_own_page(headers(Sec_Fetch_Site="cross-site"), own)
    assert not from_own_page([], own)


def test_the_client_behind_trusted_proxies_is_the_right_most_untrusted_address() -> None:
    forwarded = ForwardedFor(lambda *_: None, ["10.0.0.0/8", "::1"])  # type: ignore[arg-type]
    assert forwarded.trusted("10.1.2.3") and forwarded.trusted("::1")
    assert not forwarded.trusted("203.0.113.9") and not forwarded.trusted("not-an-ip")
    assert forwarded.client_of("203.0.113.9") == "203.0.113.9"
    assert forwarded.client_of("1.1.1.1, 203.0.113.9, 10.0.0.2") == "203.0.113.9"
    assert forwarded.client_of("10.0.0.3, 10.0.0.2") == "10.0.0.3"
    assert forwarded.client_of(" , ") is None


def test_bad_origin_and_proxy_lists_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://ok.example, ftp://no.example")
    with pytest.raises(SettingsError, match="ALLOWED_ORIGINS"):
        load_settings()
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://ok.example,http://also.example:8000")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, proxy.example")
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings()
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,::1")
    settings = load_settings()
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.7", "::1")
    assert settings.public_origins == {"https://ok.example", "http://also.example:8000"}
    assert Settings(tradepro_env="production", jwt_secret="x" * 40).session_cookie_secure
