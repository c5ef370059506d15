"""``tradepro up``'s pure parts: the service plan, the restart policy, how an ending reads,
the banner, the line reader that loses nothing, and the command line's refusals."""

from __future__ import annotations

import asyncio
import io
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from tradepro.cli import main
from tradepro.config import Settings
from tradepro.runtime.urls import without_credentials
from tradepro.services.up.banner import (
    describe_bus,
    describe_database,
    render_banner,
    ui_url,
    websocket_url,
)
from tradepro.services.up.guard import guard_command
from tradepro.services.up.guard import main as guard_main
from tradepro.services.up.main import derived_env, run_up
from tradepro.services.up.plan import (
    RestartPolicy,
    UpOptions,
    describe_ending,
    describe_exit,
    plan_problem,
    service_plan,
)
from tradepro.services.up.probe import port_taken
from tradepro.services.up.process import Console, read_line

SIM = UpOptions(feed="sim", sim_rate_per_s=20.0, seed=7)


def settings(tmp_path: Path, **values: Any) -> Settings:
    """Every value that matters explicit, so the test run's environment cannot leak in."""
    defaults: dict[str, Any] = dict(
        tradepro_data_dir=tmp_path / "data",
        redis_url=None,
        database_url=None,
        api_port=4000,
        ws_port=8080,
        backpack_ws_url="wss://ws.backpack.exchange",
    )
    return Settings(**(defaults | values))


# -- the plan ------------------------------------------------------------------------------


def test_the_engine_starts_first_stops_last_and_the_poller_waits_for_health(
    tmp_path: Path,
) -> None:
    plan = service_plan(settings(tmp_path), UpOptions())

    assert [spec.name for spec in plan] == ["engine", "api", "ws", "poller"]
    assert [spec.name for spec in plan if spec.stops_last] == ["engine"]
    assert [spec.name for spec in plan if spec.starts_when_healthy] == ["poller"]
    assert {spec.name: spec.port for spec in plan if spec.port} == {"api": 4000, "ws": 8080}
    assert [spec.health_path for spec in plan if spec.port] == ["/health", None]


def test_the_poller_gets_the_feed_and_its_options(tmp_path: Path) -> None:
    live = {spec.name: spec.argv for spec in service_plan(settings(tmp_path), UpOptions())}
    sim = {spec.name: spec.argv for spec in service_plan(settings(tmp_path), SIM)}
    unseeded = service_plan(settings(tmp_path), UpOptions(feed="sim"))[-1].argv

    cli = ("-m", "tradepro.cli")
    assert live["poller"] == (*cli, "poller", "--feed", "backpack")
    assert sim["poller"] == (*cli, "poller", "--feed", "sim", "--rate", "20", "--seed", "7")
    assert unseeded == (*cli, "poller", "--feed", "sim", "--rate", "10")
    assert sim["engine"] == (*cli, "engine")
    assert (sim["api"], sim["ws"]) == ((*cli, "api"), (*cli, "ws"))


def test_ws_processes_start_that_many_ws_servers_sharing_the_port(tmp_path: Path) -> None:
    plan = service_plan(settings(tmp_path, ws_processes=3), UpOptions())

    assert [spec.name for spec in plan] == ["engine", "api", "ws-1", "ws-2", "ws-3", "poller"]
    ws = [spec for spec in plan if spec.name.startswith("ws")]
    assert {(spec.argv, spec.port, spec.shares_port) for spec in ws} == {
        (("-m", "tradepro.cli", "ws"), 8080, True)
    }
    assert [spec.shares_port for spec in service_plan(settings(tmp_path), UpOptions())] == [
        False
    ] * 4  # one ws process keeps its port to itself


def test_a_shared_port_is_taken_only_by_a_program_that_does_not_share_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as ours:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        ours.bind(("0.0.0.0", 0))  # noqa: S104 (as the services bind)
        ours.listen()
        port = ours.getsockname()[1]
        assert not port_taken(port, shared=True)  # one of ours: restart beside it
        assert port_taken(port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as theirs:
        theirs.bind(("0.0.0.0", 0))  # noqa: S104
        theirs.listen()
        assert port_taken(theirs.getsockname()[1], shared=True)


def test_standby_runs_a_second_engine_that_also_stops_last(tmp_path: Path) -> None:
    servers = settings(tmp_path, redis_url="redis://r:6379/0", database_url="postgresql://p/db")
    options = UpOptions(standby=True)
    assert plan_problem(servers, options) is None
    plan = service_plan(servers, options)

    assert [spec.name for spec in plan] == ["engine", "standby", "api", "ws", "poller"]
    assert [spec.name for spec in plan if spec.stops_last] == ["engine", "standby"]
    assert plan[0].argv == plan[1].argv  # the same command: the lease decides who applies


def test_shards_run_an_engine_per_shard_and_a_standby_each(tmp_path: Path) -> None:
    servers = settings(tmp_path, redis_url="redis://r:6379/0", database_url="postgresql://p/db")
    options = UpOptions(standby=True, shards=2)
    assert plan_problem(servers, options) is None
    plan = service_plan(servers, options)

    names = ["engine-0", "standby-0", "engine-1", "standby-1", "api", "ws", "poller"]
    assert [spec.name for spec in plan] == names
    assert [spec.name for spec in plan if spec.stops_last] == names[:4]
    assert plan[0].argv == plan[1].argv == ("-m", "tradepro.cli", "engine", "--shard", "0")
    assert plan[2].argv == plan[3].argv == ("-m", "tradepro.cli", "engine", "--shard", "1")
    assert derived_env(servers, options)["ENGINE_SHARDS"] == "2"  # every service agrees
    assert "ENGINE_SHARDS" not in derived_env(servers, UpOptions())
    from_setting = settings(tmp_path, redis_url="redis://r:6379/0", engine_shards=3)
    assert [s.name for s in service_plan(from_setting, UpOptions())][:3] == [
        "engine-0", "engine-1", "engine-2"
    ]  # fmt: skip


def test_shards_are_refused_on_the_embedded_bus(tmp_path: Path) -> None:
    problem = plan_problem(settings(tmp_path), UpOptions(shards=2))
    assert problem is not None and "--shards needs REDIS_URL" in problem
    assert plan_problem(settings(tmp_path), UpOptions(shards=1)) is None


def test_standby_is_refused_on_the_embedded_default(tmp_path: Path) -> None:
    for values in ({}, {"redis_url": "redis://r:6379/0"}, {"database_url": "postgresql://p/db"}):
        problem = plan_problem(settings(tmp_path, **values), UpOptions(standby=True))
        assert problem is not None and "--standby needs REDIS_URL and DATABASE_URL" in problem
    assert plan_problem(settings(tmp_path), UpOptions()) is None


def test_one_port_for_both_servers_is_refused(tmp_path: Path) -> None:
    assert plan_problem(settings(tmp_path)) is None
    problem = plan_problem(settings(tmp_path, api_port=9000, ws_port=9000))
    assert problem is not None and "API_PORT and WS_PORT" in problem


# -- restarts ------------------------------------------------------------------------------


def test_restarts_back_off_and_give_up_at_the_fifth_crash_within_a_minute() -> None:
    policy = RestartPolicy()

    delays = [policy.crashed(now_s) for now_s in (0.0, 1.0, 2.0, 3.0)]
    assert delays == [0.5, 1.0, 2.0, 4.0]
    assert policy.crashed(4.0) is None


def test_crashes_older_than_the_window_are_forgotten() -> None:
    policy = RestartPolicy()
    for now_s in (0.0, 10.0, 20.0, 30.0):
        policy.crashed(now_s)

    assert policy.crashed(65.0) == 4.0  # the crash at 0 s has left the window
    assert policy.recent_crashes == 4
    assert policy.crashed(200.0) == 0.5  # a service that stayed up starts over


def test_the_delay_is_capped() -> None:
    policy = RestartPolicy(max_crashes=100, first_delay_s=1.0, max_delay_s=8.0)
    delays = [policy.crashed(float(second)) for second in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


# -- endings -------------------------------------------------------------------------------


def test_exits_read_as_codes_or_signals() -> None:
    assert describe_exit(0) == "exit 0"
    assert describe_exit(3) == "exit 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"


@pytest.mark.parametrize(
    ("returncode", "terminated", "killed", "clean"),
    [
        (0, True, False, True),  # drained and exited
        (-signal.SIGTERM, True, False, True),  # uvicorn re-raises the SIGTERM it handled
        (1, True, False, False),  # failed while stopping
        (-signal.SIGKILL, True, True, False),  # did not stop in time
        (1, False, False, False),  # had crashed before the stop
        (None, False, False, True),  # never started (the poller before health)
    ],
)
def test_a_clean_stop_is_exit_0_or_the_sigterm_up_sent(
    returncode: int | None, terminated: bool, killed: bool, clean: bool
) -> None:
    text, stopped_cleanly = describe_ending(returncode, terminated=terminated, killed=killed)
    assert stopped_cleanly is clean
    assert text


# -- the banner ----------------------------------------------------------------------------


def test_the_banner_on_the_embedded_default(tmp_path: Path) -> None:
    banner = render_banner(settings(tmp_path, api_port=4100, ws_port=8100), SIM, 4.25)
    data = (tmp_path / "data").resolve()

    assert "healthy after 4.2 s" in banner
    assert "UI           http://localhost:4100/\n" in banner
    assert "API docs     http://localhost:4100/docs\n" in banner
    assert "WebSocket    ws://localhost:8100/\n" in banner
    assert "Health       http://localhost:4100/health\n" in banner
    assert f"Bus          embedded SQLite at {data / 'bus.db'}\n" in banner
    assert f"Database     embedded SQLite at {data / 'tradepro.db'}\n" in banner
    assert "Feed         SIMULATED" in banner and "seed 7" in banner
    assert f"Data folder  {data}\n" in banner
    assert "Ctrl-C to stop" in banner


def test_the_banner_on_servers_shows_no_credentials(tmp_path: Path) -> None:
    current = settings(
        tmp_path,
        redis_url="redis://default:redis-secret@cache.internal:6380/2",
        database_url="postgresql://trader:pg-secret@db.internal:5433/tradepro?sslmode=require",
        public_url="https://trade.example.com/",
    )
    banner = render_banner(current, UpOptions(), 7.0)

    assert "secret" not in banner and "trader" not in banner and "default:" not in banner
    assert "Bus          Redis at redis://cache.internal:6380/2\n" in banner
    assert "Database     PostgreSQL at db.internal:5433/tradepro\n" in banner
    feed = "Feed         Backpack market prices from wss://ws.backpack.exchange (connecting"
    assert feed in banner
    assert "live" not in banner.lower()  # not before the poller has connected
    assert "UI           https://trade.example.com/\n" in banner
    assert "WebSocket    wss://trade.example.com:8080/\n" in banner
    assert "SIMULATED" not in banner


def test_urls_follow_public_url_or_the_api_port(tmp_path: Path) -> None:
    assert ui_url(settings(tmp_path, api_port=4321)) == "http://localhost:4321"
    public = settings(tmp_path, public_url="http://[::1]:9000")
    assert ui_url(public) == "http://[::1]:9000"
    assert websocket_url(public) == "ws://[::1]:8080/"


def test_urls_lose_their_credentials() -> None:
    assert without_credentials("redis://:pw@h:6379/0") == "redis://h:6379/0"
    assert without_credentials("rediss://user:pw@h/1?password=pw") == "rediss://h/1"
    assert without_credentials("wss://ws.backpack.exchange") == "wss://ws.backpack.exchange"


def test_descriptions_of_explicit_sqlite_and_servers(tmp_path: Path) -> None:
    explicit = settings(tmp_path, database_url=f"sqlite:///{tmp_path}/x.db")
    assert describe_database(explicit) == f"SQLite at {tmp_path}/x.db"
    assert describe_bus(settings(tmp_path, redis_url="redis://h")) == "Redis at redis://h"


# -- output --------------------------------------------------------------------------------


async def test_lines_are_read_whole_overlong_in_pieces_and_the_last_unterminated_one_kept() -> None:
    stream = asyncio.StreamReader(limit=16)
    stream.feed_data(b"first\n" + b"x" * 40 + b"\nlast without newline")
    stream.feed_eof()

    pieces = []
    while (piece := await read_line(stream)) is not None:
        pieces.append(piece)

    assert pieces[0] == b"first\n"
    assert len(pieces) > 3  # the 40-byte line came in pieces of at most the limit
    assert b"".join(pieces) == b"first\n" + b"x" * 40 + b"\nlast without newline"
    assert pieces[-1] == b"last without newline"


def test_every_line_has_a_fixed_width_prefix() -> None:
    out = io.StringIO()
    console = Console(out)
    console.line("engine", "a")
    console.line("ws", "b")
    console.note("c")

    assert out.getvalue() == "engine | a\nws     | b\nup     | c\n"


def test_a_reader_that_went_away_does_not_stop_up() -> None:
    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    console = Console(Gone())
    console.note("dropped")
    console.note("dropped too")  # no exception: supervision goes on


# -- the guard and the command line --------------------------------------------------------


def test_the_guard_runs_the_service_under_the_same_interpreter() -> None:
    command = guard_command(1234, ["-m", "tradepro.cli", "engine"])
    assert command[1:] == ["-m", "tradepro.services.up.guard", "1234", "-m", "tradepro.cli",
                           "engine"]  # fmt: skip


def test_the_guard_refuses_to_run_without_a_parent_pid(capsys: pytest.CaptureFixture[str]) -> None:
    assert guard_main(["engine"]) == 2
    assert "usage" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args", [["up", "--feed", "paper"], ["up", "--rate", "0"], ["up", "--seed", "x"]]
)
def test_bad_up_options_are_errors(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert args[1] in capsys.readouterr().err


def test_up_refuses_one_port_for_both_servers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("API_PORT", "9000")
    monkeypatch.setenv("WS_PORT", "9000")
    monkeypatch.setenv("TRADEPRO_DATA_DIR", str(tmp_path / "data"))

    assert main(["up", "--feed", "sim"]) == 2
    assert "API_PORT and WS_PORT are both 9000" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_up_refuses_a_bad_backpack_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BACKPACK_WS_URL", "http://not-a-websocket")

    with pytest.raises(SystemExit) as exit_info:
        main(["up"])
    assert exit_info.value.code == 2
    assert "BACKPACK_WS_URL" in capsys.readouterr().err


def test_up_refuses_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("API_PORT", "70000")

    with pytest.raises(SystemExit) as exit_info:
        main(["up", "--feed", "sim"])
    assert exit_info.value.code == 2
    assert "api_port" in capsys.readouterr().err.lower()


def test_up_says_when_the_database_cannot_be_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = "postgresql://trader:pg-secret@127.0.0.1:1/tradepro"  # nothing on port 1
    out = io.StringIO()

    assert run_up(settings(tmp_path, database_url=unreachable), SIM, Console(out)) == 1

    message = capsys.readouterr().err
    assert "cannot migrate the database (PostgreSQL at 127.0.0.1:1/tradepro)" in message
    assert "pg-secret" not in message + out.getvalue()
    assert "started" not in out.getvalue()  # no service was started


def test_the_services_learn_which_feed_runs_and_the_ui_address(tmp_path: Path) -> None:
    derived = derived_env(settings(tmp_path, api_port=4321), UpOptions(feed="sim"))
    assert derived == {"TRADEPRO_FEED": "sim", "PUBLIC_URL": "http://localhost:4321"}
    public = settings(tmp_path, public_url="https://trade.example.com")
    assert derived_env(public, UpOptions()) == {"TRADEPRO_FEED": "backpack"}


def test_api_processes_start_that_many_api_servers_sharing_the_port(tmp_path: Path) -> None:
    plan = service_plan(settings(tmp_path, api_processes=2), UpOptions())

    assert [spec.name for spec in plan] == ["engine", "api-1", "api-2", "ws", "poller"]
    api = [spec for spec in plan if spec.name.startswith("api")]
    assert {(s.argv, s.port, s.shares_port, s.health_path) for s in api} == {
        (("-m", "tradepro.cli", "api"), 4000, True, "/health")
    }
