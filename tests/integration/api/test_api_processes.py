"""Several ``tradepro api`` processes on one port (``API_PROCESSES=2``, ``SO_REUSEPORT``):
both listen, and when one dies the other still answers on that port."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.servers import free_port
from tests.support.stack import ServiceProcess, eventually

pytestmark = pytest.mark.integration


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


async def test_two_api_processes_share_one_port(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "API_PORT": str(port),
        "API_PROCESSES": "2",
        "TRADEPRO_DATA_DIR": str(tmp_path / "data"),
        "BIND_HOST": "127.0.0.1",
    }
    processes = [ServiceProcess("api", env, tmp_path / f"api-{n}.log") for n in (1, 2)]
    try:
        processes[0].start()
        await eventually(lambda: answers(port), 60, "the first api process")
        processes[1].start()  # binds the same port: no "address already in use"
        await eventually(lambda: answers(port), 60, "the port")

        def both_listen() -> bool:
            assert all(p.alive() for p in processes), [p.log_tail() for p in processes]
            return sum(f":{port:04X} " in line for line in _listening()) == 2

        await eventually(both_listen, 60, "both api processes listening")
        processes[0].kill()
        assert all(answers(port) for _ in range(10))  # the other one serves every request
        assert processes[1].alive(), processes[1].log_tail()
    finally:
        for process in processes:
            process.close()


def _listening() -> list[str]:
    """Listening TCP sockets of this machine (``/proc/net/tcp``, state 0A)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return [line for line in lines if line.split()[3] == "0A"]
