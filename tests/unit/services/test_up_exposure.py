"""``tradepro up`` warns loudly when it serves the development secret to the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradepro.config import DEV_JWT_SECRET, Settings
from tradepro.services.up.exposure import exposure_warning
from tradepro.services.up.main import run_up
from tradepro.services.up.plan import UpOptions

OWN_SECRET = "a-secret-of-our-own-0123456789abcdef0123456789"  # noqa: S105 (a test secret)


def settings(tmp_path: Path, **values: Any) -> Settings:
    defaults: dict[str, Any] = dict(
        tradepro_data_dir=tmp_path / "data", redis_url=None, database_url=None,
        jwt_secret=DEV_JWT_SECRET, bind_host="0.0.0.0",  # noqa: S104 (every interface)
    )  # fmt: skip
    return Settings(**(defaults | values))


def test_the_dev_secret_on_a_network_address_is_warned_about(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "192.168.1.20", "trade.example.com"):  # noqa: S104
        warning = exposure_warning(settings(tmp_path, bind_host=host))
        assert warning is not None, host
        assert f"BIND_HOST={host}" in warning and "JWT_SECRET" in warning
        assert "anyone who can reach this" in warning
    for host in ("127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"):
        assert exposure_warning(settings(tmp_path, bind_host=host)) is None, host
    assert exposure_warning(settings(tmp_path, jwt_secret=OWN_SECRET)) is None


def test_up_prints_it_before_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A database that cannot be reached: ``up`` stops right after its first steps.
    unreachable = settings(tmp_path, database_url="postgresql://127.0.0.1:9/nowhere")
    assert run_up(unreachable, UpOptions()) != 0
    err = capsys.readouterr().err
    assert err.index("WARNING: the api and ws server listen on every network interface") < (
        err.index("cannot migrate the database")
    )
    quiet = settings(tmp_path, database_url="postgresql://127.0.0.1:9/nowhere", bind_host="::1")
    assert run_up(quiet, UpOptions()) != 0
    assert "WARNING" not in capsys.readouterr().err
