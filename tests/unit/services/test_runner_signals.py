"""How a service ends on signals (``run_service``), on a real child process: the first
SIGTERM or SIGINT starts the drain; a repeated SIGTERM (the kernel can send a killed
``tradepro up``'s death signal more than once) never cuts it short; a second SIGINT (Ctrl-C
twice) aborts with 130."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from tradepro.runtime.runner import run_service

    async def main(stop):
        print("ready", flush=True)
        await stop.wait()
        print("draining", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)  # the test says when it is done
        print("drained", flush=True)

    sys.exit(run_service("child", main))
    """
)


def start() -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    return child


def test_a_repeated_sigterm_lets_the_drain_finish() -> None:
    child = start()
    assert child.stdin is not None and child.stdout is not None
    try:
        child.send_signal(signal.SIGTERM)
        assert child.stdout.readline() == "draining\n"
        child.send_signal(signal.SIGTERM)  # as a killed up's death signal, twice
        child.send_signal(signal.SIGTERM)
        child.stdin.write("done\n")
        child.stdin.flush()
        assert child.stdout.readline() == "drained\n"
        assert child.wait(30) == 0
    finally:
        child.kill()
        child.wait()


def test_a_second_ctrl_c_aborts_the_drain() -> None:
    child = start()
    assert child.stdout is not None
    try:
        child.send_signal(signal.SIGINT)
        assert child.stdout.readline() == "draining\n"
        child.send_signal(signal.SIGINT)
        assert child.wait(30) == 130
        assert child.stdout.read() == ""  # never "drained"
    finally:
        child.kill()
        child.wait()
