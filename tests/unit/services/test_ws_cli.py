"""``tradepro ws``: its options, and a bad configuration refused with a message."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tradepro.cli import main


@pytest.mark.parametrize(
    "args",
    [
        ["ws", "--send-queue", "0"],
        ["ws", "--send-queue", "many"],
        ["ws", "--ping-interval", "-1"],
        ["ws", "--close-timeout", "inf"],
    ],
)
def test_bad_ws_options_are_errors(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)

    assert exit_info.value.code == 2
    assert args[1] in capsys.readouterr().err


def test_help_names_the_port_and_the_send_queue(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ws", "--help"])

    help_text = capsys.readouterr().out
    assert "--send-queue" in help_text and "1013" in help_text


def test_a_bad_setting_stops_the_server_with_a_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tradepro.cli", "ws"],
        env={"WS_PORT": "70000", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert "ws_port" in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_stops_the_server_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tradepro.cli", "ws", "--host", "127.0.0.1"],
            env={
                **os.environ,
                "WS_PORT": str(port),
                "TRADEPRO_DATA_DIR": str(tmp_path),
                "REDIS_URL": "",
            },
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
