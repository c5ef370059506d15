"""Start a child of ``tradepro up`` so that it cannot outlive ``up``.

``python -m tradepro.services.up.guard PARENT_PID ARGS...`` asks Linux to send this process
SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), checks that the parent is still
``PARENT_PID`` (it may have died before the request), then replaces itself with
``python ARGS...``: same pid, and the request survives the exec. So a ``tradepro up``
killed with SIGKILL leaves no orphan: each service gets SIGTERM and drains as on Ctrl-C.

Why a separate step instead of ``preexec_fn``: Python code run between fork and exec in a
process with threads can deadlock; here the fork is a plain spawn and this runs after exec.
Elsewhere than Linux there is no such request: ``up`` still stops its children on every
signal it can catch.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Sequence

PR_SET_PDEATHSIG = 1
EXIT_PARENT_GONE = 3
EXIT_USAGE = 2


def guard_command(parent_pid: int, args: Sequence[str]) -> list[str]:
    """The argv that runs ``python args...`` as a child that dies with ``parent_pid``."""
    return [sys.executable, "-m", __name__, str(parent_pid), *args]


def die_with_parent(signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``signum`` when the parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(errno)}")
    return True


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        print("usage: python -m tradepro.services.up.guard PARENT_PID ARGS...", file=sys.stderr)
        return EXIT_USAGE
    die_with_parent()
    if os.getppid() != int(argv[0]):
        return EXIT_PARENT_GONE  # the parent died before the request: nobody to serve
    os.execv(sys.executable, [sys.executable, *argv[1:]])  # noqa: S606 (our own interpreter)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
