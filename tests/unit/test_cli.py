"""The ``tradepro`` command, run as a real process, and the demo loop it drives."""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from tradepro.cli import main
from tradepro.demo import DemoOptions, DemoSession, StopRequest, run_demo

COMMAND = [sys.executable, "-m", "tradepro.cli"]


def run_cli(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def read_until(process: subprocess.Popen[bytes], marker: str, timeout_s: float = 15) -> str:
    """Everything the process printed up to and including ``marker`` (or fail at timeout)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    received = b""
    deadline = time.monotonic() + timeout_s
    while marker.encode() not in received:
        remaining_s = deadline - time.monotonic()
        assert remaining_s > 0, f"no {marker!r} within {timeout_s}s; got {received.decode()!r}"
        ready, _, _ = select.select([fd], [], [], min(remaining_s, 0.2))
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"process ended before {marker!r}; got {received.decode()!r}"
            received += chunk
    return received.decode()


def test_demo_runs_for_its_duration_and_keeps_the_ledger() -> None:
    result = run_cli("demo", "--duration", "2", "--speed", "50", "--seed", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(" OPEN " in line for line in lines)
    status = [line for line in lines if " STATUS " in line]
    assert len(status) == 2  # one a second
    assert all("ledger OK" in line for line in status)
    assert any("PRICES  [SIMULATED]" in line for line in lines)
    assert "Finished after" in result.stdout
    assert result.stderr == ""


def test_sigint_stops_the_demo_cleanly() -> None:
    process = subprocess.Popen(
        [*COMMAND, "demo", "--speed", "20", "--seed", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        read_until(process, "ledger OK")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, stderr.decode()
    assert b"Stopped by SIGINT" in stdout
    assert b"Traceback" not in stderr


def test_help_lists_the_demo() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_an_unknown_command_is_an_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["demo", "--speed", "0"], ["demo", "--duration", "nan"], ["demo", "--traders", "0"]],
)
def test_bad_demo_options_are_errors(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2


def demo_lines(seed: int, ticks: int) -> list[str]:
    session = DemoSession(DemoOptions(seed=seed, traders=4))
    lines = session.start(0)
    for tick in range(1, ticks + 1):
        lines += session.tick(tick * 100_000)
    return lines + session.status_lines()


def test_a_seed_replays_the_same_session() -> None:
    first = demo_lines(seed=5, ticks=300)
    assert first == demo_lines(seed=5, ticks=300)
    assert first != demo_lines(seed=6, ticks=300)
    assert any(line.startswith("OPEN") for line in first)
    assert "ledger OK" in first[-1]


class FakeClock:
    """Monotonic nanoseconds that advance only when the loop sleeps."""

    def __init__(self) -> None:
        self.now_ns = 1_000_000_000

    def __call__(self) -> int:
        return self.now_ns

    def sleep(self, seconds: float) -> None:
        self.now_ns += max(1, round(seconds * 1e9))


def test_run_demo_paces_ticks_and_reports_every_second() -> None:
    clock = FakeClock()
    out = io.StringIO()
    options = DemoOptions(seed=3, speed_hz=10, duration_s=3)
    code = run_demo(options, out, StopRequest(), clock_ns=clock, sleep=clock.sleep)
    assert code == 0
    text = out.getvalue()
    assert text.count(" STATUS ") == 3
    assert "Finished after 2.90s: 30 ticks, seed 3" in text


def test_run_demo_stops_when_asked() -> None:
    clock = FakeClock()
    stop = StopRequest()

    def sleep_then_stop(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now_ns > 1_500_000_000:
            stop.signal_name = "SIGINT"

    out = io.StringIO()
    code = run_demo(DemoOptions(seed=3), out, stop, clock_ns=clock, sleep=sleep_then_stop)
    assert code == 0
    assert "Stopped by SIGINT" in out.getvalue()


def test_the_api_refuses_production_without_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-in links would go to the log, where anyone reading it could sign in as anyone."""
    monkeypatch.setenv("TRADEPRO_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "p" * 40)
    monkeypatch.delenv("SMTP_URL", raising=False)
    assert main(["api"]) == 2


@pytest.mark.parametrize(
    ("argv", "environment", "expected"),
    [
        (["poller"], {}, "backpack"),
        (["poller"], {"TRADEPRO_FEED": "sim"}, "sim"),
        (["poller", "--feed", "backpack"], {"TRADEPRO_FEED": "sim"}, "backpack"),
        (["up", "--feed", "sim"], {"TRADEPRO_FEED": "backpack"}, "sim"),
        (["up"], {"TRADEPRO_FEED": "sim"}, "sim"),
    ],
)
def test_the_feed_is_the_option_else_the_setting(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], environment: dict[str, str], expected: str
) -> None:
    """A poller started on its own runs the feed that the API and the UI announce."""
    from tradepro.cli.arguments import feed_or_setting  # noqa: PLC0415
    from tradepro.cli.main import build_parser  # noqa: PLC0415
    from tradepro.config import load_settings  # noqa: PLC0415

    monkeypatch.delenv("TRADEPRO_FEED", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    args = build_parser().parse_args(argv)
    assert feed_or_setting(args, load_settings()) == expected


def test_a_live_feed_from_the_setting_still_checks_its_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tradepro.cli.arguments import feed_or_setting  # noqa: PLC0415
    from tradepro.cli.main import build_parser  # noqa: PLC0415
    from tradepro.config import load_settings  # noqa: PLC0415

    monkeypatch.setenv("TRADEPRO_FEED", "backpack")
    monkeypatch.setenv("BACKPACK_WS_URL", "http://not-a-websocket")
    with pytest.raises(SystemExit) as stopped:
        feed_or_setting(build_parser().parse_args(["poller"]), load_settings())
    assert stopped.value.code == 2
    assert "BACKPACK_WS_URL must be a ws:// or wss:// URL" in capsys.readouterr().err


STOPPED_WHILE_IMPORTING = """
import os, signal, sys, time
import tradepro.cli.services as services
def slow_start(args):  # a SIGTERM lands while the engine still imports its modules
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
    return 3
services._run_engine = slow_start
from tradepro.cli.main import main
sys.argv = ["tradepro", "engine"]
sys.exit(main())
"""


def test_sigterm_while_a_service_starts_exits_0_rather_than_dying_of_the_signal() -> None:
    # A supervisor may stop a service it just started; without the early handler the
    # process dies of SIGTERM (-15) before its own drain handling exists.
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_WHILE_IMPORTING], capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
