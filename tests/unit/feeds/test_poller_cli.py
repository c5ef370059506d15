"""``tradepro poller`` on the command line: its flags, and clear refusals of bad input."""

from __future__ import annotations

import pytest

from tradepro.cli import main


def exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    code = exited.value.code
    return code if isinstance(code, int) else 1


def test_help_lists_the_feed_choices_and_tuning_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(["poller", "--help"]) == 0
    shown = capsys.readouterr().out
    for flag in ("--feed", "--rate", "--seed", "--max-rate", "--metrics-port", "--engine-timeout"):
        assert flag in shown


@pytest.mark.parametrize(
    "args",
    [["--feed", "binance"], ["--rate", "0"], ["--max-rate", "x"], ["--metrics-port", "70000"]],
)
def test_bad_flag_values_are_refused_by_name(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code(["poller", *args]) == 2
    assert args[0] in capsys.readouterr().err


def test_a_feed_url_that_is_not_a_websocket_url_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BACKPACK_WS_URL", "https://ws.backpack.exchange")
    assert exit_code(["poller"]) == 2
    assert "BACKPACK_WS_URL" in capsys.readouterr().err


def test_a_bad_rate_setting_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POLLER_MAX_RATE_PER_S", "-1")
    assert exit_code(["poller", "--feed", "sim"]) == 2
    assert "poller_max_rate_per_s" in capsys.readouterr().err
