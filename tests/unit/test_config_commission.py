"""``COMMISSION_BPS``: one figure for every asset, or per asset; bad values are refused."""

from __future__ import annotations

import pytest

from tradepro.config import Settings


def settings(monkeypatch: pytest.MonkeyPatch, value: str) -> Settings:
    monkeypatch.setenv("COMMISSION_BPS", value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", {"BTC_USDC": 0, "ETH_USDC": 0, "SOL_USDC": 0}),
        ("7", {"BTC_USDC": 7, "ETH_USDC": 7, "SOL_USDC": 7}),
        ("BTC_USDC=5, ETH_USDC=3", {"BTC_USDC": 5, "ETH_USDC": 3, "SOL_USDC": 0}),
    ],
)
def test_commission_per_instrument(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: dict[str, int]
) -> None:
    instruments = settings(monkeypatch, value).engine_config().instruments
    assert {symbol: i.commission_bps for symbol, i in instruments.items()} == expected


@pytest.mark.parametrize("value", ["x", "-1", "1001", "NOPE_USD=5", "BTC_USDC=1.5"])
def test_bad_commission_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    with pytest.raises(ValueError, match="COMMISSION_BPS"):
        settings(monkeypatch, value)
