"""A local Redis Cluster for the tests: three masters on free loopback ports, each in a
folder of its own, joined with ``redis-cli --cluster create``; stopped at the end.

A node listens on its port and on port + 10000 (the cluster bus), so both must be free.
With TRADEPRO_REQUIRE_SERVICES=1, missing ``redis-server``/``redis-cli`` is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CLUSTER_BUS_OFFSET = 10_000
MASTERS = 3


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cluster_ports(count: int = MASTERS) -> list[int]:
    """``count`` ports that are free, and whose cluster bus ports are free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        bus_port = port + CLUSTER_BUS_OFFSET
        if bus_port <= 65_535 and _free(bus_port) and port not in ports:
            ports.append(port)
    return ports


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is not installed"
    return path


def _cli(*args: str, timeout_s: float = 30.0) -> str:
    done = subprocess.run(
        [_tool("redis-cli"), *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    return done.stdout + done.stderr


@contextlib.contextmanager
def redis_cluster(folder: Path) -> Iterator[list[int]]:
    """Start the cluster in ``folder``; yield its ports once ``cluster_state:ok``."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            message = f"{tool} is not installed: the Redis Cluster tests need it"
            if os.environ.get("TRADEPRO_REQUIRE_SERVICES") == "1":
                pytest.fail(message)
            pytest.skip(message)
    folder.mkdir(parents=True, exist_ok=True)
    ports = cluster_ports()
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            log = (folder / f"node-{port}.log").open("wb")
            nodes.append(
                subprocess.Popen(
                    [
                        _tool("redis-server"),
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(folder / f"nodes-{port}.conf"),
                        "--cluster-node-timeout",
                        "5000",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--daemonize",
                        "no",
                        "--dir",
                        str(folder),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 30
        while any("PONG" not in _cli("-p", str(p), "ping", timeout_s=5) for p in ports):
            if time.monotonic() > deadline:
                raise AssertionError(f"the cluster's nodes did not start: see {folder}")
            time.sleep(0.1)
        created = _cli(
            "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas", "0", "--cluster-yes",
        )  # fmt: skip
        assert "[OK] All 16384 slots covered" in created, created
        deadline = time.monotonic() + 30
        while any("cluster_state:ok" not in _cli("-p", str(p), "cluster", "info") for p in ports):
            if time.monotonic() > deadline:
                raise AssertionError(f"the cluster is not ok after 30 s: see {folder}")
            time.sleep(0.1)
        yield ports
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            try:
                node.wait(10)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of three masters for the whole test run: the URL of one node."""
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as ports:
        yield f"redis://127.0.0.1:{ports[0]}"
