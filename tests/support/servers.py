"""Test-owned Redis and PostgreSQL servers, on their own ports and data folders.

Outage tests stop and restart these, never the shared services. Redis runs with
``appendonly yes`` as production should. PostgreSQL refuses to run as root, so when the
tests run as root its folder is handed to the ``postgres`` user and it runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def services_required() -> bool:
    """``TRADEPRO_REQUIRE_SERVICES=1`` (as in CI): a missing server or tool is a failure."""
    return os.environ.get("TRADEPRO_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(port: int, timeout_s: float, up: bool = True) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'} in {timeout_s}s")


class OwnedRedis:
    def __init__(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed")
        self.server = server
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="tradepro-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.server, "--port", str(self.port), "--bind", "127.0.0.1",
             "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_port(self.port, 10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: Redis flushes the AOF and exits
            self.process.wait(10)
            self.process = None
        _wait_for_port(self.port, 10, up=False)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class OwnedPostgres:
    BIN = Path("/usr/lib/postgresql")

    def __init__(self) -> None:
        versions = sorted(self.BIN.glob("*/bin/initdb")) if self.BIN.exists() else []
        initdb = versions[-1] if versions else shutil.which("initdb")
        if not initdb:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bin = Path(initdb).parent
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="tradepro-pg-"))
        self.data = self.folder / "data"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options,
                  "-l", str(self.folder / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
