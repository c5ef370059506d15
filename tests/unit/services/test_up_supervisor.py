"""The supervisor of ``tradepro up`` on tiny stand-in services (``python -c`` children that
start in milliseconds): stop waves, a stubborn child killed, a crash loop given up, every
output line forwarded, a start timeout. The real services are in tests/integration/test_up.py.
"""

from __future__ import annotations

import asyncio
import io
import signal
import textwrap
from collections.abc import AsyncIterator, Callable

import pytest

from tests.support.servers import free_port
from tests.support.stack import eventually
from tradepro.services.up.plan import RestartPolicy, ServiceSpec, UpOptions
from tradepro.services.up.process import Console
from tradepro.services.up.supervisor import Supervisor

OPTIONS = UpOptions(feed="sim", start_timeout_s=30.0, stop_timeout_s=0.5)


def child(body: str, *, on_sigterm: str = "exit") -> tuple[str, ...]:
    """``python -c``: print ``ready`` once the SIGTERM handling is in place, run ``body``,
    then wait. ``on_sigterm``: ``exit`` (say so, exit 0), ``ignore`` or ``default``."""
    handlers = {
        "exit": "signal.signal(signal.SIGTERM, lambda *_: (print(NAME, 'got SIGTERM', "
        "flush=True), sys.exit(0)))",
        "ignore": "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
        "default": "",
    }
    code = "\n".join(
        [
            "import signal, sys, time",
            "NAME = sys.argv[1]",
            handlers[on_sigterm],
            "print(NAME, 'ready', flush=True)",
            textwrap.dedent(body),
            "while True: time.sleep(1)",
        ]
    )
    return ("-c", code)


def spec(name: str, body: str = "", **options: object) -> ServiceSpec:
    on_sigterm = str(options.pop("on_sigterm", "exit"))
    argv = (*child(body, on_sigterm=on_sigterm), name)
    return ServiceSpec(name, argv, **options)


class Run:
    """A supervisor over ``plan`` running as a task, its console in memory (made by the
    ``start`` fixture, which kills whatever a failed test left running)."""

    def __init__(self, plan: list[ServiceSpec], options: UpOptions = OPTIONS, **kwargs: object):
        self.out = io.StringIO()
        self.supervisor = Supervisor(
            plan, options, Console(self.out), lambda s: "=== BANNER ===", **kwargs
        )
        self.task = asyncio.create_task(self.supervisor.run())

    @property
    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def index(self, text: str) -> int:
        return next(number for number, line in enumerate(self.lines) if text in line)


@pytest.fixture
async def start() -> AsyncIterator[Callable[..., Run]]:
    runs: list[Run] = []

    def make(*args: object, **kwargs: object) -> Run:
        runs.append(Run(*args, **kwargs))
        return runs[-1]

    yield make
    for run in runs:
        if not run.task.done():
            run.supervisor.on_signal(signal.SIGINT)
            run.supervisor.on_signal(signal.SIGINT)  # the second one kills
        await asyncio.wait_for(asyncio.gather(run.task, return_exceptions=True), 30)


async def test_stop_waves_the_engine_last_and_a_stubborn_service_is_killed(
    start: Callable[..., Run],
) -> None:
    run = start(
        [
            spec("engine", stops_last=True),
            spec("api", on_sigterm="ignore"),
            spec("ws"),
        ]
    )
    await eventually(lambda: run.saw("=== BANNER ===") and run.saw("api    | api ready"), 10)
    await eventually(lambda: run.saw("engine | engine ready") and run.saw("ws     | ws ready"), 10)

    run.supervisor.on_signal(signal.SIGINT)
    code = await run.task

    assert code == 1, run.out.getvalue()  # the api had to be killed: not a clean stop
    killing = run.index("api did not stop within 0.5 s: killing it (SIGKILL)")
    assert run.index("ws     | ws got SIGTERM") < killing < run.index("engine got SIGTERM")
    assert run.saw("up     | engine stopped cleanly (exit 0)")
    assert run.saw("up     | api    killed (SIGKILL)")
    assert run.saw("up     | ws     stopped cleanly (exit 0)")


async def test_a_clean_stop_exits_0_and_a_service_started_when_healthy_waits(
    start: Callable[..., Run],
) -> None:
    run = start([spec("engine", stops_last=True), spec("poller", starts_when_healthy=True)])
    await eventually(lambda: run.saw("poller | poller ready"), 10)
    assert run.index("up     | poller started") > run.index("engine started")

    run.supervisor.on_signal(signal.SIGTERM)
    assert await run.task == 0, run.out.getvalue()
    assert run.saw("all services stopped cleanly")


async def test_a_crash_loop_stops_everything_naming_the_service_and_its_last_lines(
    start: Callable[..., Run], capsys: pytest.CaptureFixture[str]
) -> None:
    crashing = spec("flaky", "print('boom: bad setting', flush=True); sys.exit(1)")
    run = start(
        [spec("engine", stops_last=True), crashing],
        restart_policy=lambda: RestartPolicy(max_crashes=3, first_delay_s=0.01),
    )

    code = await asyncio.wait_for(run.task, 30)

    assert code == 1
    flaky = run.supervisor.services[1]
    assert flaky.starts == 3
    assert run.saw("flaky exited unexpectedly (exit 1)")
    assert run.saw("restarting flaky in 0.01 s")
    message = capsys.readouterr().err
    assert "flaky keeps crashing: 3 times within 60 s" in message
    assert "flaky | boom: bad setting" in message
    assert run.saw("up     | engine stopped cleanly (exit 0)")


async def test_an_engine_that_stepped_down_is_restarted_and_the_reason_said(
    start: Callable[..., Run],
) -> None:
    fenced = spec("standby", "sys.exit(76)", stops_last=True)
    run = start(
        [spec("engine", stops_last=True), fenced],
        restart_policy=lambda: RestartPolicy(max_crashes=3, first_delay_s=0.01),
    )

    await eventually(lambda: run.supervisor.services[1].starts >= 2, 10, "a restart")

    assert run.saw("standby exited unexpectedly (exit 76)")
    assert run.saw("standby stepped down: another engine took over its lease")
    assert run.saw("restarting standby in 0.01 s")


async def test_a_service_refusing_its_configuration_is_not_restarted(
    start: Callable[..., Run], capsys: pytest.CaptureFixture[str]
) -> None:
    refusing = spec("api", "print('tradepro: SMTP_URL must be set', flush=True); sys.exit(2)")
    run = start([spec("engine", stops_last=True), refusing])

    assert await asyncio.wait_for(run.task, 30) == 1

    assert run.supervisor.services[1].starts == 1
    message = capsys.readouterr().err
    assert "api refused the configuration (exit 2)" in message
    assert "api | tradepro: SMTP_URL must be set" in message


async def test_every_line_is_forwarded_in_order_even_the_last_unterminated_one(
    start: Callable[..., Run],
) -> None:
    body = """
    for number in range(5000):
        print('line', number)
    sys.stdout.write('no newline at the end')
    sys.stdout.flush()
    """
    run = start([spec("chatty", body, on_sigterm="default")])
    await eventually(lambda: run.saw("chatty | line 4999"), 20)

    run.supervisor.on_signal(signal.SIGINT)
    assert await run.task == 0, run.out.getvalue()

    forwarded = [line for line in run.lines if line.startswith("chatty | line ")]
    assert forwarded == [f"chatty | line {number}" for number in range(5000)]
    assert run.saw("chatty | no newline at the end")
    assert run.saw("up     | chatty stopped by SIGTERM")


async def test_a_service_never_ready_stops_everything_after_the_start_timeout(
    start: Callable[..., Run], capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    options = UpOptions(feed="sim", start_timeout_s=0.5, stop_timeout_s=5.0)
    run = start([spec("api", port=port, health_path="/health")], options)

    assert await asyncio.wait_for(run.task, 30) == 1
    message = capsys.readouterr().err
    assert f"not healthy after 0.5 s (--start-timeout): still waiting for api (port {port}" in (
        message
    )
    assert "api | api ready" in message
