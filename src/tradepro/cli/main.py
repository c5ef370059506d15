"""The ``tradepro`` command: one subcommand per service or tool.

``tradepro demo`` runs the in-memory engine on the simulated feed in the terminal; the
services (``up``, ``api``, ``engine``, ``poller``, ``ws``, ``migrate``) join as subcommands.
Each subcommand's options live next to the others of its kind (``services``, ``up``,
``demo``); what they share is in ``arguments``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from tradepro import __version__
from tradepro.cli.arguments import Handler
from tradepro.cli.demo import add_demo
from tradepro.cli.services import add_poller, add_services, add_ws
from tradepro.cli.up import add_up

EXIT_INTERRUPTED = 130
"""Exit code after a second Ctrl-C (128 + SIGINT), the shell convention."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit code."""
    if argv is None:  # the program itself, not a caller passing its own arguments
        signal.signal(signal.SIGTERM, _stopped_while_starting)
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`tradepro demo | head`): stop quietly, without a traceback
        # from the final flush at interpreter exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _stopped_while_starting(_signum: int, _frame: object) -> None:
    """SIGTERM before the subcommand has installed its own handling (a service imports its
    modules for up to a second on a busy machine; a supervisor may stop it meanwhile): exit
    0 at once, as a service that drained would. The engine takes its signals over before it
    opens a database or a bus, so it has applied and written nothing yet."""
    raise SystemExit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradepro",
        description="TradePro: leveraged CFD paper trading with an in-memory engine.",
    )
    parser.add_argument("--version", action="version", version=f"tradepro {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add_demo(commands)
    add_services(commands)
    add_poller(commands)
    add_ws(commands)
    add_up(commands)
    return parser
