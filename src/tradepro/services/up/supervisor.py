"""The supervisor behind ``tradepro up``: starts the services in order, waits for them to
be ready, restarts one that crashes, and stops them all in order.

Start: the services not marked ``starts_when_healthy`` in plan order (the engine first),
then, once every service with a port is ready (its health path answers 200, or the port
accepts connections), the rest, and the banner. A crash is logged and restarted after the
``RestartPolicy`` delay; a service that refuses its configuration (exit 2), a port held by
another program, or the policy giving up stops everything with a message naming the
service and showing its last lines. Stop (first
SIGINT/SIGTERM/SIGHUP, a failure, or a start timeout): SIGTERM to the services not marked
``stops_last`` and wait, then to the rest, each wave killed after ``stop_timeout_s``; a
second signal kills everything at once. Then one line per service says how it ended.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping

from tradepro.bus.base import EXIT_FENCED
from tradepro.runtime.folder_lock import EXIT_LOCKED
from tradepro.services.up.plan import RestartPolicy, ServiceSpec, UpOptions, describe_exit
from tradepro.services.up.probe import port_taken, readiness
from tradepro.services.up.process import Console, ServiceProcess

EXIT_FAILED = 1
EXIT_CONFIG = 2
"""How a service refuses its settings: restarting it cannot help."""
EXIT_FORCED = 130
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
HEALTH_POLL_S = 0.25
PROGRESS_EVERY_S = 2.0


class Supervisor:
    """Starts the services, keeps them running, and stops them in order."""

    def __init__(
        self,
        plan: list[ServiceSpec],
        options: UpOptions,
        console: Console,
        banner: Callable[[float], str],
        *,
        started_s: float | None = None,
        restart_policy: Callable[[], RestartPolicy] = RestartPolicy,
        extra_env: Mapping[str, str] | None = None,
        inherited_fds: tuple[int, ...] = (),
    ) -> None:
        """``banner(healthy_after_s)`` is printed once ready; ``started_s`` (monotonic) is
        when ``up`` started, for that figure. The services get this process's environment
        plus ``extra_env``, and keep ``inherited_fds`` open (the instance lock)."""
        self.options = options
        self.console = console
        self.banner = banner
        self.started_s = time.monotonic() if started_s is None else started_s
        self.restart_policy = restart_policy
        env = {**os.environ, **(extra_env or {}), "PYTHONUNBUFFERED": "1"}
        self.services = [ServiceProcess(spec, env, console, inherited_fds) for spec in plan]
        self.stop = asyncio.Event()
        self.signals = 0
        self.failure: str | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self.on_signal, signum)
        keepers: list[asyncio.Task[None]] = []
        first = [service for service in self.services if not service.spec.starts_when_healthy]
        later = [service for service in self.services if service.spec.starts_when_healthy]
        try:
            keepers += await self._start(first)  # the engine first
            healthy_after_s = await self._wait_healthy()
            if healthy_after_s is not None:
                keepers += await self._start(later)
                self.console.write(self.banner(healthy_after_s))
            await self.stop.wait()
        finally:
            for keeper in keepers:  # no restart may start while the services stop
                keeper.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)
            await self._stop_services()
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
        return self._report()

    async def _start(self, services: list[ServiceProcess]) -> list[asyncio.Task[None]]:
        """Start ``services`` in order; a keeper task for each one started."""
        keepers = []
        for service in services:
            if self.stop.is_set() or not await self._spawn(service):
                break
            keepers.append(asyncio.create_task(self._keep(service)))
        return keepers

    async def _spawn(self, service: ServiceProcess) -> bool:
        """Start ``service``; False (and a stop) if the system refuses a new process."""
        try:
            await service.start()
        except OSError as error:
            self._fail(service, f"could not be started ({error})")
            return False
        return True

    # -- signals ---------------------------------------------------------------------------

    def on_signal(self, signum: int) -> None:
        """The first SIGINT/SIGTERM stops everything in order; a second one kills."""
        name = signal.Signals(signum).name
        self.signals += 1
        if self.signals == 1:
            self.console.note(f"{name} received: stopping (Ctrl-C again to force)")
            self.stop.set()
        elif self.signals == 2:
            self.console.note(f"second {name}: killing every service now (SIGKILL)")
            for service in self.services:
                service.send(signal.SIGKILL)

    @property
    def forced(self) -> bool:
        return self.signals >= 2

    # -- keeping the services up -----------------------------------------------------------

    async def _keep(self, service: ServiceProcess) -> None:
        """Restart ``service`` whenever it ends on its own, until stopped or given up."""
        policy = self.restart_policy()
        while True:
            returncode = await service.wait()
            if self.stop.is_set():
                return
            delay_s = self._after_crash(service, returncode, policy)
            if delay_s is None or await _event_within(self.stop, delay_s):
                return
            if not await self._spawn(service):
                return

    def _after_crash(
        self, service: ServiceProcess, returncode: int, policy: RestartPolicy
    ) -> float | None:
        """Log the crash; the delay before the restart, or None after giving up."""
        self.console.note(f"{service.name} exited unexpectedly ({describe_exit(returncode)})")
        spec = service.spec
        if returncode == EXIT_CONFIG:
            self._fail(service, "refused the configuration (exit 2)")
            return None
        if returncode == EXIT_LOCKED:
            self._fail(service, "found its data folder in use by an engine this up did not start")
            return None
        if returncode == EXIT_FENCED:
            self.console.note(
                f"{service.name} stepped down: another engine took over its lease while it "
                "was stopped or cut off; restarted, it follows that engine as the standby"
            )
        if spec.port is not None and port_taken(spec.port, shared=spec.shares_port):
            self._fail(
                service,
                f"cannot listen on port {spec.port}: another program uses it "
                f"(stop that program, or set {spec.port_variable})",
            )
            return None
        delay_s = policy.crashed(time.monotonic())
        if delay_s is None:
            self._fail(
                service,
                f"keeps crashing: {policy.recent_crashes} times within {policy.window_s:g} s",
            )
            return None
        self.console.note(
            f"restarting {service.name} in {delay_s:g} s (crash {policy.recent_crashes}; "
            f"up gives up at {policy.max_crashes} within {policy.window_s:g} s)"
        )
        return delay_s

    def _fail(self, service: ServiceProcess, why: str) -> None:
        if self.failure is None:
            self.failure = f"{service.name} {why}. Its last output:\n{service.last_lines()}"
        self.console.note(f"{service.name} {why}: stopping everything")
        self.stop.set()

    # -- health ----------------------------------------------------------------------------

    async def _wait_healthy(self) -> float | None:
        """Seconds since ``up`` started until healthy; None if stopped or timed out."""
        next_progress_s = time.monotonic() + PROGRESS_EVERY_S
        while not self.stop.is_set():
            waiting = await self._not_ready()
            elapsed_s = time.monotonic() - self.started_s
            if not waiting:
                return elapsed_s
            if self.stop.is_set():
                return None
            if elapsed_s > self.options.start_timeout_s:
                self._fail_start(waiting)
                return None
            if time.monotonic() >= next_progress_s:
                self.console.note(f"waiting for {'; '.join(waiting)} ({elapsed_s:.0f} s)")
                next_progress_s += PROGRESS_EVERY_S
            await _event_within(self.stop, HEALTH_POLL_S)
        return None

    async def _not_ready(self) -> list[str]:
        """What is not ready yet, in words (empty when everything is)."""
        specs = [service.spec for service in self.services if service.spec.port is not None]
        answers = await asyncio.gather(*(readiness(spec) for spec in specs))
        return [answer for answer in answers if answer is not None]

    def _fail_start(self, waiting: list[str]) -> None:
        tails = "\n".join(f"{service.last_lines()}" for service in self.services)
        self.failure = (
            f"not healthy after {self.options.start_timeout_s:g} s (--start-timeout): still "
            f"waiting for {'; '.join(waiting)}. The last output:\n{tails}"
        )
        self.console.note("the services did not become healthy in time: stopping everything")
        self.stop.set()

    # -- stopping --------------------------------------------------------------------------

    async def _stop_services(self) -> None:
        first = [service for service in self.services if not service.spec.stops_last]
        last = [service for service in self.services if service.spec.stops_last]
        names = ", ".join(service.name for service in first)
        then = ", ".join(service.name for service in last)
        self.console.note(f"stopping {names}, then {then}" if last else f"stopping {names}")
        await self._stop_wave(first)
        await self._stop_wave(last)

    async def _stop_wave(self, wave: list[ServiceProcess]) -> None:
        running = [service for service in wave if service.running]
        for service in running:
            service.terminate()
        waits = [asyncio.ensure_future(service.wait()) for service in running]
        if not waits:
            return
        await asyncio.wait(waits, timeout=self.options.stop_timeout_s)
        for service in running:
            if service.running:
                self.console.note(
                    f"{service.name} did not stop within {self.options.stop_timeout_s:g} s: "
                    "killing it (SIGKILL)"
                )
                service.send(signal.SIGKILL)
        await asyncio.gather(*waits)

    def _report(self) -> int:
        """One line per service with how it ended; the exit code."""
        clean = True
        for service in self.services:
            ending, stopped_cleanly = service.ending()
            clean = clean and stopped_cleanly
            self.console.note(f"{service.name:<6} {ending}")
        if self.failure is not None:
            print(f"tradepro up: {self.failure}", file=sys.stderr)
            return EXIT_FAILED
        if self.forced:
            return EXIT_FORCED
        if not clean:
            return EXIT_FAILED
        self.console.note("all services stopped cleanly")
        return 0


async def _event_within(event: asyncio.Event, timeout_s: float) -> bool:
    """Whether ``event`` is set within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
