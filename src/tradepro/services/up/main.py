"""``tradepro up``: the whole platform from one command.

Migrates the database once, in this process (so the services never race to migrate), then
runs engine, api, ws and poller as child processes on the same settings: the embedded
default (SQLite bus and database in the data folder) when ``REDIS_URL``/``DATABASE_URL``
are unset, Redis and PostgreSQL when they are set. Their output is forwarded line by line
behind their names. The engine starts first, then api and ws; once the api answers
``/health`` (which needs the engine) and the ws port is open, the poller starts and a
banner says where everything is.

A service that exits on its own is restarted with a doubling delay (the engine recovers
from its snapshot and the stream); one that cannot stay up (its port held by another
program, a refused configuration, or ``RestartPolicy`` giving up) stops everything with a
message that names it and shows its last lines. Ctrl-C or SIGTERM stops the api, ws and
poller first and the engine last, so its final snapshot holds every order they accepted;
a second Ctrl-C kills them.
One ``up`` runs per data folder: it first waits (bounded, saying for what) until a previous
instance's services are gone, even those of an ``up`` that was killed (``up.instance``).
This module prepares (settings check, data folder, migrations); ``up.supervisor`` runs.
"""

from __future__ import annotations

import asyncio
import sys
import time

from tradepro.config import Settings
from tradepro.services.up.banner import describe_database, render_banner, ui_url
from tradepro.services.up.exposure import exposure_warning
from tradepro.services.up.instance import claim_data_folder, previous_timeout_s
from tradepro.services.up.plan import UpOptions, plan_problem, service_plan
from tradepro.services.up.process import Console
from tradepro.services.up.supervisor import EXIT_CONFIG, EXIT_FAILED, Supervisor


def run_up(settings: Settings, options: UpOptions, console: Console | None = None) -> int:
    """Prepare the data folder and the database, then supervise the services until
    stopped; the exit code (0 when every service stopped cleanly)."""
    started_s = time.monotonic()
    console = console or Console()
    problem = plan_problem(settings, options)
    if problem is not None:
        print(f"tradepro up: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    warning = exposure_warning(settings)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    data_dir = settings.tradepro_data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    console.note(f"data folder: {data_dir}")
    wait_s = options.wait_previous_s
    if wait_s is None:
        wait_s = previous_timeout_s(options.stop_timeout_s)
    lock = claim_data_folder(data_dir, wait_s, console)
    if lock is None:
        return EXIT_FAILED
    try:
        if not _migrate(settings, console):
            return EXIT_FAILED
        supervisor = Supervisor(
            service_plan(settings, options),
            options,
            console,
            lambda healthy_after_s: "\n".join(
                filter(None, (render_banner(settings, options, healthy_after_s), warning))
            ),
            started_s=started_s,
            extra_env=derived_env(settings, options),
            inherited_fds=(lock.fileno,),  # the services hold the instance lock too
        )
        return asyncio.run(supervisor.run())
    finally:
        lock.release()


def derived_env(settings: Settings, options: UpOptions) -> dict[str, str]:
    """``TRADEPRO_FEED`` from ``--feed`` (the api tells the UI which feed runs), and
    ``PUBLIC_URL`` when unset: the banner's UI address, so the sign-in links the api sends
    point where the api listens (the setting's own default assumes port 4000); and
    ``ENGINE_SHARDS`` from ``--shards``."""
    derived: dict[str, str] = {"TRADEPRO_FEED": options.feed}
    if options.shards is not None:  # every service must agree on the shards
        derived["ENGINE_SHARDS"] = str(options.shards)
    if "public_url" not in settings.model_fields_set:
        derived["PUBLIC_URL"] = ui_url(settings)
    return derived


def _migrate(settings: Settings, console: Console) -> bool:
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 (heavy; only needed here)

    from tradepro.db.migrate import upgrade_sync  # noqa: PLC0415

    where = describe_database(settings)
    console.note(f"migrating the database: {where}")
    try:
        upgrade_sync(settings.effective_database_url)
    except (SQLAlchemyError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        print(f"tradepro up: cannot migrate the database ({where}): {reason}", file=sys.stderr)
        return False
    return True
