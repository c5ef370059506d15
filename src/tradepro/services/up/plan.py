"""What ``tradepro up`` runs and when it gives up: the services in start order, their
command lines, the stop order, and the restart policy for a service that crashes.

Pure (no processes, no clock of its own) so the rules are unit-tested as plain values.
"""

from __future__ import annotations

import signal
from collections import deque
from dataclasses import dataclass, field

from tradepro.config import Settings
from tradepro.feeds import Feed


@dataclass(frozen=True, slots=True)
class UpOptions:
    """The command line's choices (everything else comes from the settings)."""

    feed: Feed = "backpack"
    sim_rate_per_s: float = 10.0
    """``--feed sim``: quotes per second per asset."""
    seed: int | None = None
    """``--feed sim``: random seed (None: the poller picks one and logs it)."""
    start_timeout_s: float = 120.0
    """Give up when the services are not healthy after this long."""
    stop_timeout_s: float = 30.0
    wait_previous_s: float | None = None
    """How long to wait for a previous instance's processes to release the data folder
    (None: ``stop_timeout_s`` plus a margin, ``instance.previous_timeout_s``)."""
    """How long each stop wave may take before the rest is killed."""
    standby: bool = False
    """``--standby``: a second engine, a hot standby that takes over when the first stops
    or dies (Redis and PostgreSQL only: it needs the shard's lease). With shards: one
    standby per shard."""
    shards: int | None = None
    """``--shards N``: run N engine shards (``ENGINE_SHARDS``, passed to every service);
    None: as ``ENGINE_SHARDS`` says."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One child: ``python <argv...>``, and how to tell it is ready: a port that accepts
    connections, and a path there that answers 200 (if any)."""

    name: str
    argv: tuple[str, ...]
    port: int | None = None
    port_variable: str | None = None
    health_path: str | None = None
    unhealthy_means: str = "not healthy yet"
    """What a non-200 answer of ``health_path`` tells the person waiting."""
    stops_last: bool = False
    """The engine stops after the others, so its final snapshot holds all they sent."""
    starts_when_healthy: bool = False
    """The poller starts once the engine answers: its quotes have somewhere to go, and on a
    small machine the others start faster without it competing for the CPU."""
    shares_port: bool = False
    """One of several processes on ``port`` (``SO_REUSEPORT``): the others' listening
    sockets do not make the port "taken" for it."""


def service_plan(settings: Settings, options: UpOptions) -> list[ServiceSpec]:
    """The services in start order: the engine first, then api and ws (``WS_PROCESSES``
    of them, ``ws-1`` ... on one port), and the poller once they are healthy."""
    poller: tuple[str, ...] = ("--feed", options.feed)
    if options.feed == "sim":
        poller += ("--rate", f"{options.sim_rate_per_s:g}")
        if options.seed is not None:
            poller += ("--seed", str(options.seed))
    return [
        *engine_services(settings, options),
        *api_services(settings),
        *ws_services(settings),
        ServiceSpec("poller", tradepro_command("poller", *poller), starts_when_healthy=True),
    ]


def engine_shards(settings: Settings, options: UpOptions) -> int:
    return options.shards if options.shards is not None else settings.engine_shards


def engine_services(settings: Settings, options: UpOptions) -> list[ServiceSpec]:
    """``engine`` (and ``standby``), or with N shards ``engine-0`` ... ``engine-<N-1>``,
    each applying its shard (``--shard K``), and with ``--standby`` a ``standby-K`` each."""
    shards = engine_shards(settings, options)
    if shards == 1:
        names = [("engine", "standby", tradepro_command("engine"))]
    else:
        names = [(f"engine-{k}", f"standby-{k}", tradepro_command("engine", "--shard", str(k)))
                 for k in range(shards)]  # fmt: skip
    specs: list[ServiceSpec] = []
    for engine, standby, argv in names:
        specs.append(ServiceSpec(engine, argv, stops_last=True))
        if options.standby:
            specs.append(ServiceSpec(standby, argv, stops_last=True))
    return specs


def api_services(settings: Settings) -> list[ServiceSpec]:
    """``api``, or ``api-1`` ... ``api-N`` sharing ``API_PORT`` (``API_PROCESSES``)."""
    count = settings.api_processes
    names = ["api"] if count == 1 else [f"api-{n}" for n in range(1, count + 1)]
    return [
        ServiceSpec(
            name,
            tradepro_command("api"),
            settings.api_port,
            "API_PORT",
            health_path="/health",
            unhealthy_means="the engine does not answer yet",
            shares_port=count > 1,
        )
        for name in names
    ]


def ws_services(settings: Settings) -> list[ServiceSpec]:
    """``ws``, or ``ws-1`` ... ``ws-N`` sharing ``WS_PORT``: each reads the bus itself and
    the kernel spreads the connections over them (they see ``WS_PROCESSES`` too, so each
    listens with ``SO_REUSEPORT``)."""
    count = settings.ws_processes
    names = ["ws"] if count == 1 else [f"ws-{n}" for n in range(1, count + 1)]
    return [
        ServiceSpec(
            name, tradepro_command("ws"), settings.ws_port, "WS_PORT", shares_port=count > 1
        )
        for name in names
    ]


def tradepro_command(*args: str) -> tuple[str, ...]:
    """``python -m tradepro.cli args...``, without the interpreter."""
    return ("-m", "tradepro.cli", *args)


def plan_problem(settings: Settings, options: UpOptions | None = None) -> str | None:
    """Why these settings cannot run together (None when they can)."""
    if options is not None and options.standby and settings.state_in_data_folder:
        return (
            "--standby needs REDIS_URL and DATABASE_URL: the standby engine waits for the "
            "engine's lease in Redis and reads its snapshots from PostgreSQL (on the embedded "
            "default one engine holds the data folder, and a second one cannot follow it)"
        )
    if options is not None and engine_shards(settings, options) > 1 and not settings.redis_url:
        return (
            "--shards needs REDIS_URL (and DATABASE_URL): every engine shard has its own "
            "streams in Redis; the embedded default runs one engine"
        )
    if settings.api_port == settings.ws_port:
        return (
            f"API_PORT and WS_PORT are both {settings.api_port}: the api and the ws server "
            "need a port each"
        )
    return None


@dataclass(slots=True)
class RestartPolicy:
    """Restart a crashed service after a doubling delay; give up on a crash loop.

    A crash is remembered for ``window_s``. The ``max_crashes``-th crash within that window
    means the service cannot stay up (a bad setting, a broken dependency): restarting it
    again would only hide the problem, so the caller stops everything and says why.
    """

    max_crashes: int = 5
    window_s: float = 60.0
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0
    _crashes_at_s: deque[float] = field(default_factory=deque)

    def crashed(self, now_s: float) -> float | None:
        """Note a crash at ``now_s`` (monotonic seconds); the delay before restarting it,
        or None to give up."""
        while self._crashes_at_s and now_s - self._crashes_at_s[0] >= self.window_s:
            self._crashes_at_s.popleft()
        self._crashes_at_s.append(now_s)
        recent = len(self._crashes_at_s)
        if recent >= self.max_crashes:
            return None
        delay_s: float = self.first_delay_s * 2.0 ** (recent - 1)
        return min(delay_s, self.max_delay_s)

    @property
    def recent_crashes(self) -> int:
        return len(self._crashes_at_s)


def describe_exit(returncode: int) -> str:
    """``exit 0``, ``exit 1``, or ``killed by SIGKILL`` for a process ended by a signal."""
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"killed by {name}"


def describe_ending(returncode: int | None, *, terminated: bool, killed: bool) -> tuple[str, bool]:
    """How a service ended once ``up`` stopped, and whether that was a clean stop: exit 0,
    or ended by the SIGTERM ``up`` sent (uvicorn re-raises it after a graceful shutdown)."""
    if returncode is None:
        return ("was not running", True)
    if killed and returncode == -signal.SIGKILL:
        return ("killed (SIGKILL)", False)
    if not terminated:
        return (f"had already ended on its own ({describe_exit(returncode)})", False)
    if returncode == 0:
        return ("stopped cleanly (exit 0)", True)
    if returncode == -signal.SIGTERM:
        return ("stopped by SIGTERM", True)
    return (f"stopped with {describe_exit(returncode)}", False)
